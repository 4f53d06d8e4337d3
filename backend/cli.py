"""Command-line interface: ``python -m backend <command>``."""
import argparse
import json

from backend.job_commands import add_commands as add_job_commands


def _doctor(args) -> int:
    from backend.doctor import collect

    print(json.dumps(collect(body_model=args.body_model, checkpoint=args.checkpoint), indent=2))
    return 0


def _add_train_command(commands):
    # torch is imported only when the command runs, so --help stays fast
    def run(args):
        from backend.train_prior import run_command
        return run_command(args)

    p = commands.add_parser("train-prior", help="train the diffusion prior and initial estimator")
    p.add_argument("--data", nargs="+", required=True, help=".npz motion files or folders (AMASS layout or packed clips)")
    p.add_argument("--out", required=True, help="checkpoint to write (EMA weights); OUT.state holds the resumable state")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--resume", action="store_true", help="continue from OUT.state")
    p.add_argument("--exclude", nargs="*", default=[], help="clips whose names contain these strings are held out")
    p.add_argument("--amass-z-up", action="store_true", help="input files are AMASS (Z-up world)")
    p.add_argument("--noise-model", default=None, help="noise model JSON (default: data/noise_model.json)")
    p.set_defaults(func=run)


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
    _add_train_command(commands)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)
