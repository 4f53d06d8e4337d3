"""The models a job solves with, as one loaded value, and the cache that keeps them.

:class:`Models` is what solve and refine take: the body model in use, the shipped body (the
estimator predicts betas on it) and the trained prior, all on one device. A
:class:`ModelCache` belongs to whoever runs jobs: the server keeps one for its lifetime (models
load once per session), ``run-folder`` one for the folder, ``run`` one for its single job.
"""
import threading
from dataclasses import dataclass

from backend.errors import BODY_MODEL_HINT, BackendError


@dataclass(frozen=True)
class Models:
    body: object      # BodyModel in use
    shipped: object   # the shipped BodyModel (``body`` itself when that is the one in use)
    trained: object   # checkpoints.TrainedPrior
    device: str

    def check_result_body(self, result, source="the result"):
        """A result's poses and betas belong to the body model it was solved on: refining it on
        another one would put its betas on the wrong skeleton."""
        if result.body_model != self.body.model_id:
            raise BackendError("bad_body_model", f"{source} was solved on body model {result.body_model}, "
                               f"but the body model in use is {self.body.model_id}",
                               "set the body model the result was made with (add-on preferences or --body-model), "
                               "or run the video again with this one")


def load_models(body_model_path=None, checkpoint_path=None, device="cpu") -> Models:
    """Load the models (None: the shipped body model / checkpoint)."""
    from backend.body_model import BodyModel, BodyModelError
    from backend.checkpoints import load_prior

    try:
        body = BodyModel.load(body_model_path, device=device)
    except BodyModelError as exc:
        raise BackendError("bad_body_model", str(exc), BODY_MODEL_HINT) from exc
    trained = load_prior(checkpoint_path, device=device)
    shipped = body if body_model_path is None else BodyModel.load(None, device=device)
    return Models(body, shipped, trained, str(device))


class ModelCache:
    """The models of the last (body model, checkpoint, device) asked for. Loading is serialised:
    a preloading thread and the job may ask at once, and must get the same value."""

    def __init__(self):
        self._key, self._models = None, None
        self._lock = threading.Lock()

    def get(self, body_model_path, checkpoint_path, device) -> Models:
        key = (body_model_path, checkpoint_path, str(device))
        with self._lock:
            if key != self._key:
                self._key, self._models = None, None   # let the old ones go before loading others
                self._models = load_models(*key)
                self._key = key
            return self._models
