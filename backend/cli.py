"""Command-line interface: ``python -m backend <command>``."""
import argparse
import json

from backend.job_commands import add_commands as add_job_commands


def _doctor(args) -> int:
    from backend.doctor import collect

    print(json.dumps(collect(body_model=args.body_model, checkpoint=args.checkpoint), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description="ScoreHMR for Blender backend: markerless video motion capture to SMPL motion.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    doctor = commands.add_parser("doctor", help="print versions, device, body model and checkpoint as JSON")
    doctor.add_argument("--body-model", default=None, help="body model file to check (default: the shipped one)")
    doctor.add_argument("--checkpoint", default=None, help="prior checkpoint to check (default: the shipped one)")
    doctor.set_defaults(func=_doctor)
    add_job_commands(commands)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)
