"""The interactive path: modal operators driven through their own invoke() and timer ticks
against a live backend (progress, Esc, Cancel, busy refusal), and every sidebar state drawn."""
import os
import time

import blender_env
import bpy
import pytest

VIDEO = os.path.join(blender_env.ROOT, "tests", "data", "walk_excerpt.mp4")
pytestmark = pytest.mark.skipif(not os.path.isfile(VIDEO), reason="no test video")


@pytest.fixture(autouse=True)
def backend_prefs():
    blender_env.fresh_scene()
    prefs = blender_env.use_test_backend()
    settings = bpy.context.scene.scorehmr
    settings.import_start, settings.import_end = 1, 24  # a short stretch keeps the test quick
    yield prefs
    blender_env.addon_module("scorehmr_blender.client").shutdown_shared_backend()


def _scene_objects():
    return sorted(bpy.data.objects.keys()), sorted(bpy.data.actions.keys())


def _draw_all():
    return {name: blender_env.draw_panel(name) for name in
            ("SCOREHMR_PT_main", "SCOREHMR_PT_import", "SCOREHMR_PT_refine", "SCOREHMR_PT_bake")}


def test_import_video_from_the_button_shows_one_rising_bar_then_builds_the_scene():
    seen = []

    def watch(driver):
        task = driver.task
        seen.append((task.status, task.progress))
        if len(seen) % 10 == 1:  # the sidebar while the job runs
            main = blender_env.draw_panel("SCOREHMR_PT_main")
            assert task.status in main.texts and "scorehmr.cancel" in main.operators

    driver = blender_env.ModalDriver("import_video", filepath=VIDEO)
    assert driver.run(on_tick=watch) == {"FINISHED"}
    fractions = [p for _, p in seen]
    assert fractions == sorted(fractions), "the bar went backwards"
    assert fractions[-1] > 0.6
    statuses = {s.rsplit(" ", 1)[0] for s, _ in seen if "/" in s}
    assert "Finding the person" in statuses and not any(s.startswith(("detect", "refine")) for s in statuses)
    arm = bpy.context.scene.scorehmr.source
    assert arm is not None and arm.select_get() and bpy.context.view_layer.objects.active == arm
    assert driver.op._timer is None  # the timer was removed
    panels = _draw_all()
    assert arm.animation_data.action.name in panels["SCOREHMR_PT_refine"].texts  # the take list


def test_esc_cancels_and_leaves_the_scene_as_it_was():
    before = _scene_objects()
    driver = blender_env.ModalDriver("import_video", filepath=VIDEO)
    assert driver.invoke() == {"RUNNING_MODAL"}
    outcome = {"PASS_THROUGH"}
    pressed = False
    for _ in range(6000):
        if not pressed and driver.task.job.total:
            outcome = driver.tick("ESC", "PRESS")
            pressed = True
        else:
            outcome = driver.tick()
        if outcome != {"PASS_THROUGH"}:
            break
        time.sleep(0.02)
    assert pressed and outcome == {"CANCELLED"}
    assert any("cancelled" in message for _, message in driver.op.reports)
    assert _scene_objects() == before
    assert blender_env.addon_module("scorehmr_blender.tasks").active() is None


def test_a_second_job_is_refused_while_one_runs_and_cancel_stops_it():
    first = blender_env.ModalDriver("import_video", filepath=VIDEO)
    assert first.invoke() == {"RUNNING_MODAL"}
    try:
        assert not bpy.ops.scorehmr.import_video.poll() and not bpy.ops.scorehmr.refine_frames.poll()
        second = blender_env.ModalDriver("import_video", filepath=VIDEO)
        assert second.invoke() == {"CANCELLED"}
        assert any(message.startswith("Busy:") for _, message in second.op.reports)
        assert bpy.ops.scorehmr.cancel.poll()
        assert bpy.ops.scorehmr.cancel() == {"FINISHED"}  # the sidebar's Cancel button
    finally:
        for _ in range(3000):
            if first.tick() != {"PASS_THROUGH"}:
                break
            time.sleep(0.02)
    assert first.task.state == "cancelled"


def test_every_sidebar_state_draws(tmp_path, monkeypatch):
    prefs = bpy.context.preferences.addons[blender_env.ADDON_MODULE].preferences
    backend_env = blender_env.addon_module("scorehmr_blender.backend_env")
    # a fresh user: nothing chosen, no Python with the backend's packages on PATH
    prefs.python_path = ""
    monkeypatch.setenv("PATH", str(tmp_path))
    backend_env.forget_probes()
    main = blender_env.draw_panel("SCOREHMR_PT_main")
    assert "Backend not set up" in main.texts and "scorehmr.create_backend_env" in main.operators
    # a chosen interpreter without the packages says what it lacks
    prefs.python_path = "/bin/sh"
    main = blender_env.draw_panel("SCOREHMR_PT_main")  # draw() never probes: not checked yet
    assert any(t.startswith("Backend Python not checked yet") for t in main.texts)
    with pytest.raises(RuntimeError, match="not a working Python"):
        bpy.ops.scorehmr.verify_backend()
    main = blender_env.draw_panel("SCOREHMR_PT_main")
    assert any(t.startswith("Backend not usable") for t in main.texts)
    # ready, empty scene
    prefs.python_path = blender_env.backend_python()
    blender_env.addon_module("scorehmr_blender.preferences").find_backend(prefs)  # as every job start does
    blender_env.addon_module("scorehmr_blender.tasks").last_status = ""
    panels = _draw_all()
    assert panels["SCOREHMR_PT_main"].texts == ["Ready"] and not panels["SCOREHMR_PT_main"].operators
    # an imported motion with two takes, a target rig, selected keys
    path = blender_env.tmp_path("draw_result.npz")
    blender_env.write_test_result(path, blender_env.body_model_path())
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    rig, _ = blender_env.build_test_rig("mixamo", "rig", blender_env.body_model_path())
    bpy.context.scene.scorehmr.target = rig
    panels = _draw_all()
    assert any(t.startswith("Preview range") or t.startswith("No keys selected") for t in panels["SCOREHMR_PT_refine"].texts)
    arm = bpy.context.scene.scorehmr.source
    bag = blender_env.addon_module("scorehmr_blender.anim_compat").channelbag(arm, ensure=False)
    bag.fcurves[0].keyframe_points[3].select_control_point = True
    assert any(t.startswith("Selected keys") for t in blender_env.draw_panel("SCOREHMR_PT_refine").texts)
    assert bpy.ops.scorehmr.bake_to_armature() == {"FINISHED"}
    assert "Unity" in blender_env.draw_panel("SCOREHMR_PT_bake").texts
    # preferences draw too
    prefs.doctor_report = "Python 3.11\nProblem: checkpoint: file not found"
    layout = blender_env.RecordingLayout()

    class PrefsSelf:  # the preferences, drawing into the recording layout
        def __getattr__(self, name):
            return layout if name == "layout" else getattr(prefs, name)

    type(prefs).draw(PrefsSelf(), bpy.context)
    assert "Problem: checkpoint: file not found" in layout.texts and "scorehmr.verify_backend" in layout.operators
