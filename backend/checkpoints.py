"""Where the trained ScoreHMR prior lives, and how to tell whether it is usable."""
import os

from backend import DATA_DIR

DEFAULT_CHECKPOINT = os.path.join(DATA_DIR, "checkpoints", "scorehmr_prior.pt")


def default_checkpoint_path():
    """The shipped checkpoint, or None while none has been trained and committed."""
    return DEFAULT_CHECKPOINT if os.path.isfile(DEFAULT_CHECKPOINT) else None


def checkpoint_status(path=None):
    path = path or default_checkpoint_path()
    if path is None:
        return None
    return {"path": path, "exists": os.path.isfile(path),
            "size_mb": round(os.path.getsize(path) / 1e6, 2) if os.path.isfile(path) else None}
