"""The add-on against a live ``python -m backend serve`` subprocess (the repository's .venv
Python): cancel, a backend dying mid-run, backend errors, and (once the solver exists) the full
Import Video -> Refine Selected Frames loop."""
import os
import sys
import threading
import time

import blender_env
import bpy
import numpy as np
import pytest

from smplcore.result import MotionResult

VIDEO = os.path.join(blender_env.ROOT, "tests", "data", "walk_excerpt.mp4")

pytestmark = pytest.mark.skipif(not os.path.isfile(VIDEO), reason="no test video")


def _core(name):
    return sys.modules[f"{blender_env.ADDON_MODULE}.scorehmr_blender.{name}"]


@pytest.fixture(autouse=True)
def backend_prefs():
    blender_env.fresh_scene()
    prefs = blender_env.use_test_backend()
    yield prefs
    _core("client").shutdown_shared_backend()


def _scene_state():
    scene = bpy.context.scene
    return ([sorted(getattr(bpy.data, kind).keys()) for kind in
             ("objects", "meshes", "armatures", "actions", "cameras", "movieclips", "collections")],
            scene.frame_start, scene.frame_end, scene.render.fps, scene.camera)


def _once_running(action):
    """Call ``action(task)`` from another thread once the backend has reported progress
    (the blocking operator is busy waiting on the main thread meanwhile)."""
    tasks = _core("tasks")

    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            task = tasks.active()
            if task is not None and task.job.total:
                action(task)
                return
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()


def test_backend_answers_hello(backend_prefs):
    backend = _core("jobs").backend(bpy.context)
    deadline = time.monotonic() + 60
    while backend.hello is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend.hello and backend.hello["protocol"] == 1


def test_cancelled_import_leaves_the_scene_unchanged():
    before = _scene_state()
    _once_running(lambda task: task.cancel())
    assert bpy.ops.scorehmr.import_video(filepath=VIDEO) == {"CANCELLED"}
    assert _scene_state() == before
    assert _core("tasks").active() is None


def test_backend_dying_mid_run_reports_and_builds_nothing():
    before = _scene_state()
    _once_running(lambda task: task.job.backend.process.kill())
    with pytest.raises(RuntimeError, match="backend process (exited|was killed)"):
        bpy.ops.scorehmr.import_video(filepath=VIDEO)
    assert _scene_state() == before
    # the next request starts a fresh backend
    assert _core("jobs").backend(bpy.context).alive()


def test_backend_error_is_reported_with_its_hint(tmp_path):
    before = _scene_state()
    missing = tmp_path / "model.pkl"
    prefs = bpy.context.preferences.addons[blender_env.ADDON_MODULE].preferences
    prefs.body_model_path = str(missing)
    try:
        with pytest.raises(RuntimeError, match="body model file not found"):
            bpy.ops.scorehmr.import_video(filepath=VIDEO)
    finally:
        prefs.body_model_path = ""
    assert _scene_state() == before


def test_no_backend_python_is_a_clear_error(backend_prefs, tmp_path):
    backend_prefs.python_path = str(tmp_path / "no-such-python")
    with pytest.raises(RuntimeError, match="Backend not set up: .*no-such-python does not exist"):
        bpy.ops.scorehmr.import_video(filepath=VIDEO)


def test_import_video_then_refine_rekeys_only_that_range():
    assert bpy.ops.scorehmr.import_video(filepath=VIDEO) == {"FINISHED"}
    arm = bpy.context.scene.scorehmr.source
    compat, keying = _core("anim_compat"), _core("keying")
    first_take = arm.animation_data.action

    def keys():
        bag = compat.channelbag(arm, ensure=False)
        return {(fc.data_path, fc.array_index): compat.read_keys(fc) for fc in bag.fcurves}

    before = keys()
    # a hand edit inside the range becomes a fixed pose of the refine request
    bpy.context.scene.frame_set(25)
    arm.pose.bones["left_elbow"].rotation_quaternion = (0.9, 0.3, 0.1, 0.0)
    arm.pose.bones["left_elbow"].keyframe_insert("rotation_quaternion", frame=25)
    assert bpy.ops.scorehmr.refine_frames(frame_start=20, frame_end=40) == {"FINISHED"}
    after = keys()
    assert arm.animation_data.action != first_take and first_take.use_fake_user
    for key, old in before.items():
        new = after[key]
        outside = (old[:, 0] < 20) | (old[:, 0] > 40)
        np.testing.assert_array_equal(new[(new[:, 0] < 20) | (new[:, 0] > 40)], old[outside])
    inside = [k for k in after[('pose.bones["left_elbow"].rotation_quaternion', 0)][:, 0] if 20 <= k <= 40]
    assert inside and arm.animation_data.action["scorehmr_take"] == 2
    takes = _core("takes")
    second_file = takes.result_path(arm)
    assert bpy.ops.scorehmr.switch_take(action=first_take.name) == {"FINISHED"}
    first_file = takes.result_path(arm)
    assert first_file != second_file and arm.animation_data.action == first_take
    first_result = MotionResult.load(first_file)
    # only the hand edit made on take 1 above (scene frame 25 = video frame 24), not every frame
    assert list(keying.edited_poses(arm, first_result, 1, 200)) == ["24"]
    assert keying.keyed_frames(arm, 20, 40).size == len(inside)


def _stature(betas):
    """Standing height (m) of the shipped body for ``betas``: the rest mesh's extent along Y."""
    from smplcore.body_model_file import default_body_model_path, load_body_model_file

    model = load_body_model_file(default_body_model_path())
    y = model.v_template[:, 1] + model.shapedirs[:, 1] @ np.asarray(betas, np.float64)
    return float(y.max() - y.min())


def test_everyone_lists_the_other_person_and_imports_them_as_their_own_armature():
    settings = bpy.context.scene.scorehmr
    settings.people = "ALL"
    settings.performer_height = 1.58  # the main person's; the others keep their estimated shape
    settings.import_start, settings.import_end = 61, 128  # the woman walks out, the man walks in
    assert bpy.ops.scorehmr.import_video(filepath=VIDEO) == {"FINISHED"}
    main = settings.source
    assert _stature(MotionResult.load(_core("takes").result_path(main)).betas) == pytest.approx(1.58, abs=2e-3)
    assert len(settings.persons) >= 1
    other = settings.persons[0]
    assert other.person == 1 and os.path.isfile(other.result) and other.frames > 0
    assert _stature(MotionResult.load(other.result).betas) != pytest.approx(1.58, abs=2e-3)
    texts = blender_env.draw_panel("SCOREHMR_PT_import").texts
    assert any(t.startswith("Person 1: frames") for t in texts)
    assert bpy.ops.scorehmr.import_person(person=1) == {"FINISHED"}
    second = settings.source
    assert second != main and second.name.endswith("person 1")
    assert _core("takes").result_path(second) == os.path.abspath(other.result)
    # one shot, one world, one camera: the second person joins the first one's camera and place
    importer = _core("importer")
    shot = [o for o in bpy.context.scene.objects if o.type == "CAMERA" and o.get(importer.SHOT)
            == importer.shot_key(VIDEO, MotionResult.load(other.result))]
    assert len(shot) == 1 and bpy.context.scene.camera == shot[0]
    assert np.allclose(np.array(second.matrix_world), np.array(main.matrix_world))
    with pytest.raises(RuntimeError, match="no person 7"):
        bpy.ops.scorehmr.import_person(person=7)
