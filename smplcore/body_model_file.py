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

from .skeleton import PARENTS, SMPLH_PARENTS

# the kinematic trees a file may have: SMPL's 24 joints, or SMPL-H's 52 (22 body + 2 x 15 fingers)
TREES = {"smpl": PARENTS, "smplh": SMPLH_PARENTS}


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
    """Takes the place of chumpy classes while unpickling old official SMPL files: their
    stored state is kept as data, no chumpy code runs (chumpy need not be installed)."""

    def __setstate__(self, state):
        self.__dict__["_state"] = state if isinstance(state, dict) else {"x": state}

    def to_array(self):
        state = self.__dict__.get("_state", {})
        for key in ("x", "a", "r"):
            if key in state and isinstance(state[key], np.ndarray):
                return state[key]
        raise BodyModelError("a chumpy array in this file has no stored values")


class _SparseMatrix:
    """Takes the place of scipy's csc/csr matrices (official J_regressor): the pickled
    attributes are kept as data and made dense here; scipy is never called."""

    _layout = "csc"

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise BodyModelError("a sparse matrix in this file has an unexpected stored form")
        self.__dict__["_state"] = state

    def toarray(self):
        state = self.__dict__.get("_state", {})
        shape = state.get("_shape", state.get("shape"))
        try:
            rows, cols = (int(n) for n in shape)
            data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
            major = cols if self._layout == "csc" else rows
            dense = np.zeros((rows, cols), np.float64)
            for k in range(major):
                span = slice(int(indptr[k]), int(indptr[k + 1]))
                if self._layout == "csc":
                    dense[indices[span], k] = data[span]
                else:
                    dense[k, indices[span]] = data[span]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise BodyModelError(f"a sparse matrix in this file is malformed ({exc})") from exc
        return dense


def _plain_dtype(dtype):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise BodyModelError("refusing to load an array of Python objects: a model file holds numbers only")
    return dtype


def _multiarray():
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:
        from numpy.core import multiarray
    return multiarray


class _ArrayClass:
    """What the pickle gets for ``numpy.ndarray``: usable only as _reconstruct's subtype."""


def _safe_reconstruct(subtype, shape, dtype_char):
    if subtype is not _ArrayClass:
        raise BodyModelError("refusing to build an array of an unexpected type")
    return _multiarray()._reconstruct(np.ndarray, shape, dtype_char)


def _safe_dtype(spec, align=False, copy=False):
    if not isinstance(spec, str):
        raise BodyModelError(f"refusing a dtype described by {type(spec).__name__}")
    return _plain_dtype(np.dtype(spec, align=bool(align), copy=bool(copy)))


def _safe_scalar(dtype, data=None):
    _plain_dtype(dtype)
    if not isinstance(data, (bytes, str)):
        raise BodyModelError("refusing a numpy scalar stored as an object")
    return _multiarray().scalar(dtype, data)


def _safe_zeros(shape, dtype=float):
    return np.zeros(shape, _plain_dtype(np.dtype(dtype)))


def _safe_frombuffer(buffer, dtype, shape, order):
    return np.frombuffer(buffer, _plain_dtype(dtype)).reshape(shape, order=order)


def _latin1_encode(text, encoding="latin1", errors="strict"):
    # protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1')
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise BodyModelError("refusing an unexpected _codecs.encode call")
    return text.encode("latin1")


# Every global an SMPL model pickle may name, and what it gets instead. Nothing else is found,
# so no pickle can reach a function that runs code (os.system, builtins.exec/eval, ...).
_ALLOWED = {
    ("numpy", "ndarray"): _ArrayClass,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy", "zeros"): _safe_zeros,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    ("_codecs", "encode"): _latin1_encode,
    # inert containers that chumpy's pickled state may hold
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("collections", "OrderedDict"): dict,
}
_SPARSE_MODULES = ("scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.csr", "scipy.sparse._csr",
                   "scipy.sparse.compressed", "scipy.sparse._compressed")


def _sparse_class(layout):
    """The class a csc/csr pickle gets: NEWOBJ makes an empty stand-in, BUILD fills its state."""
    return type(f"{layout}_matrix", (_SparseMatrix,), {"_layout": layout})


class _SmplUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        if module in _SPARSE_MODULES and name in ("csc_matrix", "csr_matrix"):
            return _sparse_class(name[:3])
        found = _ALLOWED.get((module, name))
        if found is None:
            raise BodyModelError(f"refusing to load unexpected object {module}.{name} "
                                 "(a model file holds arrays only; this one may be malicious)")
        return found


def _check_plain(value, name, path):
    """Everything read must be plain data: arrays of numbers/strings, scalars or stand-ins."""
    if isinstance(value, np.ndarray):
        _plain_dtype(value.dtype)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, name, path)
    elif not isinstance(value, (str, bytes, int, float, bool, np.generic, _ChumpyStandIn, _SparseMatrix,
                                type(None))):
        raise BodyModelError(f"{path}: field '{name}' holds a {type(value).__name__}, not an array")


def _to_dense(value, name, path):
    if isinstance(value, _ChumpyStandIn):
        value = value.to_array()
    if isinstance(value, _SparseMatrix):
        value = value.toarray()
    try:
        return np.asarray(value)
    except Exception as exc:
        raise BodyModelError(f"{path}: field '{name}' is not an array ({exc})") from exc


def _read_raw(path):
    if path.endswith(".npz"):
        raw = {}
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                try:
                    raw[key] = data[key]
                except ValueError as exc:  # an object array: reading it would unpickle
                    raise BodyModelError(f"{path}: field '{key}' holds pickled Python objects; refusing to "
                                         "read it (a model file holds numeric arrays only)") from exc
        return raw
    with open(path, "rb") as fh:
        raw = _SmplUnpickler(fh, encoding="latin1").load()
    if not isinstance(raw, dict):
        raise BodyModelError(f"{path}: expected a dict of arrays, found {type(raw).__name__}")
    for key, value in raw.items():
        _check_plain(value, key, path)
    return raw


def file_id(path) -> str:
    """Content hash, so results name exactly the model they were solved on."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def load_body_model_file(path, tree="smpl", posedirs=True) -> BodyModelArrays:
    """``tree``: "smpl" (the body solve) or "smplh" (the same body with fingers). Without
    ``posedirs`` the pose correctives are left out (None): readers of the rest shape only skip
    SMPL-H's 150 MB of them."""
    path = os.fspath(path)
    expected_parents = TREES[tree]
    nj = len(expected_parents)
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
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < nj:
        raise BodyModelError(f"{path}: v_template has shape {v.shape}, expected (V, 3)")
    nv = v.shape[0]
    shapedirs = arrays["shapedirs"].astype(np.float64)
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (nv, 3):
        raise BodyModelError(f"{path}: shapedirs has shape {shapedirs.shape}, expected ({nv}, 3, B)")
    jreg = arrays["J_regressor"].astype(np.float64)
    if jreg.shape != (nj, nv):
        hint = ("SMPL-H/SMPL-X files are not supported here, use an SMPL file" if tree == "smpl"
                else "use an SMPL-H file (SMPL's 22 body joints and 2 x 15 finger joints)")
        raise BodyModelError(f"{path}: J_regressor has shape {jreg.shape}, expected ({nj}, {nv}); {hint}")
    weights = arrays["weights"].astype(np.float64)
    if weights.shape != (nv, nj):
        raise BodyModelError(f"{path}: weights has shape {weights.shape}, expected ({nv}, {nj})")
    faces = arrays["f"].astype(np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= nv:
        raise BodyModelError(f"{path}: faces 'f' must be (F, 3) indices into {nv} vertices")
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1  # official files store 2**32-1 for the root
    if tuple(parents.tolist()) != expected_parents:
        raise BodyModelError(f"{path}: kinematic tree differs from {tree.upper()}'s {nj}-joint tree")
    for name, value in (("v_template", v), ("shapedirs", shapedirs), ("weights", weights)):
        if not np.all(np.isfinite(value)):
            raise BodyModelError(f"{path}: '{name}' contains NaN or infinite values")

    posedirs = raw.get("posedirs") if posedirs else None
    if posedirs is not None:
        posedirs = _to_dense(posedirs, "posedirs", path).astype(np.float64)
        posedirs = posedirs.reshape(-1, posedirs.shape[-1])
        if not np.any(posedirs):
            posedirs = None
    known = {"v_template", "shapedirs", "J_regressor", "weights", "f", "kintree_table", "posedirs"}
    extras = {k: val for k, val in raw.items() if k not in known and not isinstance(val, (_ChumpyStandIn, _SparseMatrix))}
    return BodyModelArrays(
        path=path, model_id=f"{os.path.splitext(os.path.basename(path))[0]}:{file_id(path)}",
        v_template=v, shapedirs=shapedirs, posedirs=posedirs, j_regressor=jreg, weights=weights,
        faces=faces, parents=parents, extras=extras)


def default_body_model_path() -> str:
    """The shipped SMPL-compatible neutral model."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "data", "body_models", "scorehmr_neutral.pkl")


def default_smplh_model_path() -> str:
    """The shipped SMPL-H-compatible neutral model (the same body with fingers)."""
    return default_body_model_path().replace("scorehmr_neutral.pkl", "scorehmr_neutral_smplh.pkl")
