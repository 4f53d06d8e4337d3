"""No data file runs code: body models (.pkl/.npz), result files and checkpoints.

Every payload is built here; each would create a marker file if it ran. The loaders must
refuse the file with a clear error and the marker must never appear.
"""
import builtins
import os
import pickle

import numpy as np
import pytest
import scipy.sparse

from smplcore.body_model_file import BodyModelError, default_body_model_path, load_body_model_file
from smplcore.result import MotionResult, ResultFileError


class _Payload:
    """Unpickling this calls ``call(*args)``: what an attacker's file would do."""

    def __init__(self, call, args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def _attacks(marker):
    """(name, payload object) for each way a pickle can run code."""
    write = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": _Payload(os.system, (f"touch '{marker}'",)),
        "builtins.exec": _Payload(builtins.exec, (write,)),
        "builtins.eval": _Payload(builtins.eval, (write,)),
        "nested object array": np.array([None, _Payload(os.system, (f"touch '{marker}'",))], dtype=object),
    }


ATTACKS = ["os.system", "builtins.exec", "builtins.eval", "nested object array"]


def _model_dict():
    model = load_body_model_file(default_body_model_path())
    return {"v_template": model.v_template, "shapedirs": model.shapedirs, "J_regressor": model.j_regressor,
            "weights": model.weights, "f": model.faces, "kintree_table": np.stack([model.parents, np.arange(24)])}


@pytest.mark.parametrize("protocol", [2, 3, 5])
@pytest.mark.parametrize("attack", ATTACKS)
def test_body_model_pickle_payload_never_runs(tmp_path, attack, protocol):
    marker = tmp_path / "ran"
    data = _model_dict()
    data["v_template"] = _attacks(marker)[attack]
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    with pytest.raises(BodyModelError, match="refusing"):
        load_body_model_file(path)
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize("attack", ATTACKS)
def test_body_model_payload_as_the_whole_file_never_runs(tmp_path, attack):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_attacks(marker)[attack], protocol=3))
    with pytest.raises(BodyModelError, match="refusing"):
        load_body_model_file(path)
    assert not marker.exists()


@pytest.mark.parametrize("attack", ATTACKS)
def test_body_model_npz_object_array_never_runs(tmp_path, attack):
    marker = tmp_path / "ran"
    data = _model_dict()
    payload = _attacks(marker)[attack]
    data["bs_style"] = payload if isinstance(payload, np.ndarray) else np.array([payload], dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, **data)
    with pytest.raises(BodyModelError, match="pickled Python objects"):
        load_body_model_file(path)
    assert not marker.exists()


def test_object_array_of_harmless_items_is_refused_too(tmp_path):
    data = _model_dict()
    data["v_template"] = np.array([1, "a", None], dtype=object)
    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(BodyModelError, match="Python objects"):
        load_body_model_file(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("layout", ["csc", "csr"])
def test_official_layout_still_loads_in_every_protocol(tmp_path, protocol, layout):
    """Sparse J_regressor, uint32 faces, numpy scalars and strings are read as data."""
    data = _model_dict()
    dense = data["J_regressor"]
    data["J_regressor"] = getattr(scipy.sparse, f"{layout}_matrix")(dense)
    data["f"] = data["f"].astype(np.uint32)
    data["bs_style"], data["scale"] = "lbs", np.float32(1.0)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    model = load_body_model_file(path)
    assert np.allclose(model.j_regressor, dense)
    assert np.array_equal(model.faces, data["f"])
    assert model.extras["bs_style"] == "lbs"


@pytest.mark.parametrize("attack", ATTACKS)
def test_result_file_object_array_never_runs(tmp_path, attack):
    marker = tmp_path / "ran"
    t = 3
    arrays = dict(poses=np.zeros((t, 72), np.float32), trans=np.zeros((t, 3), np.float32),
                  betas=np.zeros(10, np.float32), mocap_framerate=np.float64(30), frame_index=np.arange(t),
                  valid=np.ones(t, bool), keypoints_2d=np.zeros((t, 33, 3), np.float32),
                  focal_length=np.float64(800), image_size=np.array([640, 480]), version=np.int64(1))
    payload = _attacks(marker)[attack]
    arrays["body_model"] = payload if isinstance(payload, np.ndarray) else np.array(payload, dtype=object)
    path = tmp_path / "evil_result.npz"
    np.savez(path, **arrays)
    with pytest.raises(ResultFileError, match="'body_model' holds pickled Python objects"):
        MotionResult.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("attack", ["os.system", "builtins.exec", "builtins.eval"])
def test_checkpoint_payload_never_runs(tmp_path, attack):
    torch = pytest.importorskip("torch")
    from backend.checkpoints import load_prior
    from backend.errors import BackendError

    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"prior": _attacks(marker)[attack], "init": {}}, path)
    with pytest.raises(BackendError, match="not a usable ScoreHMR checkpoint") as caught:
        load_prior(str(path))
    assert caught.value.code == "bad_checkpoint"
    assert not marker.exists()


def test_no_loader_in_the_project_allows_pickles():
    """Every np.load / torch.load in the shipped code states it never unpickles."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders = []
    for folder in ("backend", "smplcore", "scorehmr_blender", "scorehmr_research", "operators", "panels", "bench", "tools"):
        for base, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                text = open(os.path.join(base, name), encoding="utf-8").read()
                for line_no, line in enumerate(text.splitlines(), 1):
                    if ("allow_pickle=True" in line or "weights_only=False" in line
                            or ("np.load(" in line and "allow_pickle=False" not in line)
                            or ("torch.load(" in line and "weights_only=True" not in line)):
                        offenders.append(f"{folder}/{os.path.relpath(os.path.join(base, name), os.path.join(root, folder))}:{line_no}")
    assert not offenders, offenders
