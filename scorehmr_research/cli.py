"""Command-line interface: ``python -m scorehmr_research <command>`` (a development checkout)."""
import argparse


def _train_prior(args):
    from scorehmr_research.train_prior import run_command  # torch only when the command runs
    return run_command(args)


def _fit_pose_gmm(args):
    from scorehmr_research.train_prior import fit_pose_gmm_command
    return fit_pose_gmm_command(args)


def _add_training_data(p):
    p.add_argument("--data", nargs="+", required=True, help=".npz motion files or folders (AMASS layout or packed clips)")
    p.add_argument("--exclude", nargs="*", default=[], help="clips whose names contain these strings are held out")
    p.add_argument("--amass-z-up", action="store_true", help="input files are AMASS (Z-up world)")
    p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    from scorehmr_research.smplify import DEFAULT_POSE_GMM

    parser = argparse.ArgumentParser(prog="python -m scorehmr_research",
                                     description="ScoreHMR for Blender research tools: train the prior, fit the baseline's pose prior.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser("train-prior", help="train the diffusion prior and initial estimator")
    _add_training_data(p)
    p.add_argument("--out", required=True, help="checkpoint to write (EMA weights); OUT.state holds the resumable state")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--resume", action="store_true", help="continue from OUT.state")
    p.add_argument("--noise-model", default=None, help="noise model JSON (default: data/noise_model.json)")
    p.add_argument("--renders", default=None, help="folder of rendered training views (data/renders/train) mixed into the batches")
    p.add_argument("--render-fraction", type=float, default=0.25, help="share of each batch from --renders")
    p.add_argument("--init-from", default=None, help="start from this checkpoint's weights (fine-tuning)")
    p.add_argument("--init-world", action="store_true",
                   help="the initial estimator also takes MediaPipe's world landmarks as input")
    p.add_argument("--init-only", action="store_true",
                   help="train only the initial estimator; the prior stays as --init-from has it")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.set_defaults(func=_train_prior)

    p = commands.add_parser("fit-pose-gmm", help="fit the SMPLify baseline's Gaussian-mixture pose prior on the training clips")
    _add_training_data(p)
    p.add_argument("--out", default=DEFAULT_POSE_GMM, help="mixture file to write (default: %(default)s)")
    p.set_defaults(func=_fit_pose_gmm)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
