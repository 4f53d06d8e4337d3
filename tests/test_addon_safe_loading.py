"""Inside Blender: a malicious body-model preference or result file never runs code on Import Result."""
import os
import pickle

import blender_env
import bpy
import numpy as np
import pytest

from test_safe_loading import _attacks, _model_dict


@pytest.fixture
def prefs():
    blender_env.fresh_scene()
    prefs = bpy.context.preferences.addons[blender_env.ADDON_MODULE].preferences
    yield prefs
    prefs.body_model_path = ""


@pytest.mark.parametrize("attack", ["os.system", "builtins.exec", "builtins.eval"])
def test_a_malicious_body_model_preference_is_refused(prefs, tmp_path, attack):
    marker = tmp_path / "ran"
    data = _model_dict()
    data["v_template"] = _attacks(marker)[attack]
    evil = tmp_path / "SMPL_NEUTRAL.pkl"
    evil.write_bytes(pickle.dumps(data, protocol=3))
    result = str(tmp_path / "result.npz")
    blender_env.write_test_result(result, blender_env.body_model_path())
    prefs.body_model_path = str(evil)
    with pytest.raises(RuntimeError, match="refusing"):
        bpy.ops.scorehmr.import_result(filepath=result)
    assert not marker.exists(), "the payload ran inside Blender"
    assert not [o for o in bpy.data.objects if o.type == "ARMATURE"]


def test_a_malicious_result_file_is_refused(prefs, tmp_path):
    marker = tmp_path / "ran"
    good = str(tmp_path / "good.npz")
    blender_env.write_test_result(good, blender_env.body_model_path())
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["body_model"] = _attacks(marker)["nested object array"]
    evil = str(tmp_path / "evil.npz")
    np.savez(evil, **arrays)
    with pytest.raises(RuntimeError, match="pickled Python objects"):
        bpy.ops.scorehmr.import_result(filepath=evil)
    assert not marker.exists() and not os.path.exists(tmp_path / "ran")
