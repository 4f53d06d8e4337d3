"""Where the trained ScoreHMR prior lives, and loading it with clear errors."""
import os
from dataclasses import dataclass

from backend import DATA_DIR

DEFAULT_CHECKPOINT = os.path.join(DATA_DIR, "checkpoints", "scorehmr_prior.pt")


def default_checkpoint_path():
    """The shipped checkpoint, or None while none has been trained and committed."""
    return DEFAULT_CHECKPOINT if os.path.isfile(DEFAULT_CHECKPOINT) else None


def checkpoint_status(path=None):
    path = path or default_checkpoint_path()
    if path is None:
        return None
    status = {"path": path, "exists": os.path.isfile(path)}
    if status["exists"]:
        status["size_mb"] = round(os.path.getsize(path) / 1e6, 2)
        try:
            status["meta"] = {k: v for k, v in load_prior(path).meta.items() if k != "history"}
            status["ok"] = True
        except Exception as exc:
            status.update(ok=False, error=str(exc))
    return status


def check_checkpoint_file(path):
    """Cheap check before the slow stages (no torch import): the file exists and is a torch archive."""
    import zipfile

    from backend.errors import BackendError

    if not os.path.isfile(path):
        raise BackendError("bad_checkpoint", f"checkpoint file not found: {path}",
                           "point --checkpoint at a file written by 'python -m backend train-prior', "
                           "or leave it out to use the shipped one")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackendError("bad_checkpoint", f"{path} is not a torch checkpoint ({exc})",
                           "point --checkpoint at a file written by 'python -m backend train-prior'") from exc
    if not any(name.endswith("/data.pkl") for name in names):
        raise BackendError("bad_checkpoint", f"{path} is a zip file but not a torch checkpoint",
                           "point --checkpoint at a file written by 'python -m backend train-prior'")


@dataclass
class TrainedPrior:
    diffusion: object      # PoseDiffusion (EMA weights)
    init: object           # InitEstimator (EMA weights)
    meta: dict             # training data, settings, loss history


def load_prior(path=None, device="cpu") -> TrainedPrior:
    """The diffusion prior and initial estimator of a train-prior checkpoint, in eval mode."""
    import torch

    from backend.diffusion import PoseDiffusion
    from backend.errors import BackendError
    from backend.init_estimator import InitEstimator

    path = path or default_checkpoint_path()
    if path is None:
        raise BackendError("bad_checkpoint", "no trained prior is installed (data/checkpoints/scorehmr_prior.pt)",
                           "train one with 'python -m scorehmr_research train-prior' (a development checkout) or pass --checkpoint")
    if not os.path.isfile(path):
        raise BackendError("bad_checkpoint", f"checkpoint file not found: {path}",
                           "point --checkpoint at a file written by 'python -m scorehmr_research train-prior'")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        prior = PoseDiffusion.from_checkpoint(ckpt["prior"]).to(device).eval()
        init = InitEstimator.from_checkpoint(ckpt["init"]).to(device).eval()
    except Exception as exc:
        raise BackendError("bad_checkpoint", f"{path} is not a usable ScoreHMR checkpoint ({type(exc).__name__}: {exc})",
                           "re-train it, or remove --checkpoint to use the shipped one") from exc
    return TrainedPrior(prior, init, ckpt.get("meta", {}))
