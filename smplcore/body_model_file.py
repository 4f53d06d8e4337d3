"""Read SMPL-format body model files with numpy only (both sides use this one reader).

Accepted: our shipped SMPL-compatible model (``.pkl``), official SMPL ``.pkl`` files (also
the older ones whose arrays are chumpy objects, read without chumpy installed) and SMPL
``.npz`` files. Every problem raises :class:`BodyModelError` naming the file and the field.
"""
import hashlib
import os
import pickle
from dataclasses import dataclass

import numpy as np

from .skeleton import NUM_JOINTS, PARENTS


class BodyModelError(ValueError):
    """A body model file that is missing, unreadable or not an SMPL-format model."""


@dataclass
class BodyModelArrays:
    path: str
    model_id: str                # stable id written into result files
    v_template: np.ndarray       # (V, 3) rest vertices, SMPL body frame, metres
    shapedirs: np.ndarray        # (V, 3, B) shape blend shapes
    posedirs: np.ndarray | None  # (V*3, 207) pose correctives, None when all zero
    j_regressor: np.ndarray      # (24, V) dense
    weights: np.ndarray          # (V, 24) skinning weights
    faces: np.ndarray            # (F, 3) int
    parents: np.ndarray          # (24,) int, -1 for the root
    extras: dict                 # other fields (UVs, landmark definitions, metadata)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def is_shipped_free_model(self) -> bool:
        return "free_model" in self.extras

    def rest_vertices(self, betas) -> np.ndarray:
        betas = np.zeros(self.shapedirs.shape[-1]) if betas is None else np.asarray(betas, np.float64)
        n = min(betas.shape[-1], self.shapedirs.shape[-1])
        return self.v_template + self.shapedirs[..., :n] @ betas[..., :n]

    def rest_joints(self, betas=None) -> np.ndarray:
        return self.j_regressor @ self.rest_vertices(betas)


class _ChumpyStandIn:
    """Takes the place of chumpy classes while unpickling old official SMPL files."""

    def __init__(self, *args, **kwargs):
        self.__dict__["_state"] = {}

    def __setstate__(self, state):
        self.__dict__["_state"] = state if isinstance(state, dict) else {"x": state}

    def to_array(self):
        state = self._state
        for key in ("x", "a", "r"):
            if key in state and isinstance(state[key], np.ndarray):
                return state[key]
        raise BodyModelError("a chumpy array in this file has no stored values")


class _SmplUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("chumpy"):
            return _ChumpyStandIn
        if module.startswith(("numpy", "scipy.sparse", "_codecs", "copyreg", "builtins", "collections")):
            return super().find_class(module, name)
        raise BodyModelError(f"refusing to load unexpected object {module}.{name}")


def _to_dense(value, name, path):
    if isinstance(value, _ChumpyStandIn):
        value = value.to_array()
    if hasattr(value, "toarray"):  # scipy sparse (official J_regressor)
        value = value.toarray()
    try:
        return np.asarray(value)
    except Exception as exc:
        raise BodyModelError(f"{path}: field '{name}' is not an array ({exc})") from exc


def _read_raw(path):
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=True) as data:
            return {k: data[k] for k in data.files}
    with open(path, "rb") as fh:
        raw = _SmplUnpickler(fh, encoding="latin1").load()
    if not isinstance(raw, dict):
        raise BodyModelError(f"{path}: expected a dict of arrays, found {type(raw).__name__}")
    return raw


def file_id(path) -> str:
    """Content hash, so results name exactly the model they were solved on."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def load_body_model_file(path) -> BodyModelArrays:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BodyModelError(f"body model file not found: {path}")
    try:
        raw = _read_raw(path)
    except BodyModelError:
        raise
    except Exception as exc:
        raise BodyModelError(
            f"{path} is not a readable SMPL model file ({type(exc).__name__}: {exc}). "
            "Use the official SMPL_NEUTRAL.pkl/.npz or the shipped model.") from exc

    missing = [k for k in ("v_template", "shapedirs", "J_regressor", "weights", "f", "kintree_table") if k not in raw]
    if missing:
        raise BodyModelError(f"{path} is not an SMPL model: missing {', '.join(missing)}")
    arrays = {k: _to_dense(raw[k], k, path) for k in
              ("v_template", "shapedirs", "J_regressor", "weights", "f", "kintree_table")}
    v = arrays["v_template"].astype(np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < NUM_JOINTS:
        raise BodyModelError(f"{path}: v_template has shape {v.shape}, expected (V, 3)")
    nv = v.shape[0]
    shapedirs = arrays["shapedirs"].astype(np.float64)
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (nv, 3):
        raise BodyModelError(f"{path}: shapedirs has shape {shapedirs.shape}, expected ({nv}, 3, B)")
    jreg = arrays["J_regressor"].astype(np.float64)
    if jreg.shape != (NUM_JOINTS, nv):
        raise BodyModelError(f"{path}: J_regressor has shape {jreg.shape}, expected ({NUM_JOINTS}, {nv}); "
                             "SMPL-H/SMPL-X files are not supported, use an SMPL file")
    weights = arrays["weights"].astype(np.float64)
    if weights.shape != (nv, NUM_JOINTS):
        raise BodyModelError(f"{path}: weights has shape {weights.shape}, expected ({nv}, {NUM_JOINTS})")
    faces = arrays["f"].astype(np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= nv:
        raise BodyModelError(f"{path}: faces 'f' must be (F, 3) indices into {nv} vertices")
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1  # official files store 2**32-1 for the root
    if tuple(parents.tolist()) != PARENTS:
        raise BodyModelError(f"{path}: kinematic tree differs from SMPL's 24-joint tree")
    for name, value in (("v_template", v), ("shapedirs", shapedirs), ("weights", weights)):
        if not np.all(np.isfinite(value)):
            raise BodyModelError(f"{path}: '{name}' contains NaN or infinite values")

    posedirs = raw.get("posedirs")
    if posedirs is not None:
        posedirs = _to_dense(posedirs, "posedirs", path).astype(np.float64)
        posedirs = posedirs.reshape(-1, posedirs.shape[-1])
        if not np.any(posedirs):
            posedirs = None
    known = {"v_template", "shapedirs", "J_regressor", "weights", "f", "kintree_table", "posedirs"}
    extras = {k: val for k, val in raw.items() if k not in known and not isinstance(val, _ChumpyStandIn)}
    return BodyModelArrays(
        path=path, model_id=f"{os.path.splitext(os.path.basename(path))[0]}:{file_id(path)}",
        v_template=v, shapedirs=shapedirs, posedirs=posedirs, j_regressor=jreg, weights=weights,
        faces=faces, parents=parents, extras=extras)


def default_body_model_path() -> str:
    """The shipped SMPL-compatible neutral model."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "data", "body_models", "scorehmr_neutral.pkl")
