"""Refine what is selected, takes and their result files, and clean reports for Blender-side
failures (no Action, deleted armature, missing take file, export folder problems)."""
import os
import stat

import blender_env
import bpy
import numpy as np
import pytest


def _core(name):
    return blender_env.addon_module(f"scorehmr_blender.{name}")


def _import(name="refine_result.npz", invalid=(7, 8)):
    path = blender_env.tmp_path(name)
    blender_env.write_test_result(path, blender_env.body_model_path(), invalid=invalid)
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    return bpy.context.scene.scorehmr.source, path


@pytest.fixture()
def arm():
    blender_env.fresh_scene()
    return _import()[0]


def _select_keys(arm, frames):
    bag = _core("anim_compat").channelbag(arm, ensure=False)
    fcurve = bag.fcurves.find('pose.bones["left_elbow"].rotation_quaternion', index=1)
    for point in fcurve.keyframe_points:
        point.select_control_point = int(round(point.co[0])) in frames


def test_range_comes_from_selected_keys_then_preview_then_fields(arm):
    refine = blender_env.addon_module("operators.refine_ops")
    scene, settings = bpy.context.scene, bpy.context.scene.scorehmr
    settings.refine_start, settings.refine_end = 3, 9
    assert refine.refine_range(bpy.context, arm) == (3, 9, "Start/End")
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 5, 20
    assert refine.refine_range(bpy.context, arm) == (5, 20, "preview range")
    _select_keys(arm, {12, 13, 17})
    assert refine.refine_range(bpy.context, arm) == (12, 17, "selected keys")
    _select_keys(arm, set())
    assert refine.refine_range(bpy.context, arm)[2] == "preview range"


def test_result_files_are_unique_and_follow_the_saved_blend(arm, tmp_path):
    takes = _core("takes")
    paths = {takes.new_result_path("walk") for _ in range(5)}  # same stem, same second
    assert len(paths) == 5 and all(os.path.isfile(p) for p in paths)
    assert all(os.path.dirname(p) == _core("preferences").user_dir("results") for p in paths)
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    saved_path = takes.new_result_path("walk")
    assert os.path.dirname(saved_path) == str(tmp_path / "shot_scorehmr")
    takes.release_result_path(saved_path)
    assert not os.path.exists(saved_path)
    # Move Take Files: the take's file is copied next to the .blend and the take points there
    source = bpy.context.scene.scorehmr.source
    old = takes.result_path(source)
    assert bpy.ops.scorehmr.move_take_files() == {"FINISHED"}
    new = takes.result_path(source)
    assert new == str(tmp_path / "shot_scorehmr" / os.path.basename(old)) and os.path.isfile(old)
    assert bpy.ops.scorehmr.show_take_files() == {"FINISHED"}


def test_take_list_shows_only_this_armatures_takes(arm):
    other, _ = _import("other_result.npz")
    assert other != arm
    settings = bpy.context.scene.scorehmr
    takes = _core("takes")
    assert [t.name for t in takes.takes_of(other)] == [other.animation_data.action.name]
    shown = blender_env.draw_panel("SCOREHMR_PT_refine").texts
    assert other.animation_data.action.name in shown and arm.animation_data.action.name not in shown
    settings.source = arm
    with pytest.raises(RuntimeError, match="not a take of the chosen SMPL armature"):
        bpy.ops.scorehmr.switch_take(action=other.animation_data.action.name)
    assert takes.is_take_of(arm.animation_data.action, arm)


def test_missing_person_frames_are_marked_and_the_body_hidden(arm):
    scene = bpy.context.scene
    markers = [(m.name, m.frame) for m in scene.timeline_markers]
    assert markers == [("no person (2)", 8)]  # video frames 7, 8 = scene frames 8, 9
    body = next(o for o in arm.children if o.type == "MESH")
    for frame, hidden in ((7, False), (8, True), (9, True), (10, False)):
        scene.frame_set(frame)
        assert body.hide_viewport == hidden and body.hide_render == hidden, frame
        assert arm["scorehmr_tracked"] == (0.0 if hidden else 1.0)


def test_blender_side_failures_report_cleanly(arm, tmp_path):
    settings = bpy.context.scene.scorehmr
    takes = _core("takes")
    # the take's result file disappeared
    path = takes.result_path(arm)
    os.rename(path, path + ".away")
    with pytest.raises(RuntimeError, match="result file is missing"):
        bpy.ops.scorehmr.refine_frames(frame_start=2, frame_end=5)
    os.rename(path + ".away", path)
    # an Action that is not one of its takes, then no Action at all
    arm.animation_data.action = bpy.data.actions.new("hand made")
    with pytest.raises(RuntimeError, match="not one of its takes"):
        bpy.ops.scorehmr.refine_frames(frame_start=2, frame_end=5)
    arm.animation_data.action = None
    with pytest.raises(RuntimeError, match="has no Action"):
        bpy.ops.scorehmr.refine_frames(frame_start=2, frame_end=5)
    with pytest.raises(RuntimeError, match="no Action: choose a take"):
        bpy.ops.scorehmr.bake_to_armature()
    # the armature deleted
    bpy.data.objects.remove(arm)
    assert settings.source is None
    with pytest.raises(RuntimeError, match="Import a video or a result first"):
        bpy.ops.scorehmr.refine_frames()
    with pytest.raises(RuntimeError, match="Choose the armature to export"):
        bpy.ops.scorehmr.export(filepath=str(tmp_path / "x.fbx"), armature="TARGET")


def test_export_reports_missing_and_read_only_folders(arm, tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "walk.fbx"
    with pytest.raises(RuntimeError, match="folder does not exist"):
        bpy.ops.scorehmr.export(filepath=str(missing), armature="SOURCE", preset="UNITY")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(RuntimeError, match="read-only"):
            bpy.ops.scorehmr.export(filepath=str(locked / "walk.bvh"), armature="SOURCE", preset="BVH")
    finally:
        locked.chmod(stat.S_IRWXU)


@pytest.mark.parametrize("preset", ["UNITY", "UNREAL", "MIXAMO"])
def test_fbx_presets_export_the_chosen_armature(arm, tmp_path, preset):
    path = tmp_path / f"smpl_{preset}.fbx"
    assert bpy.ops.scorehmr.export(filepath=str(path), armature="SOURCE", preset=preset) == {"FINISHED"}
    first, last = _core("retarget").keyed_range(arm)
    blender_env.fresh_scene()
    bpy.ops.import_scene.fbx(filepath=str(path))
    imported = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    names = set(imported.data.bones.keys())
    assert {"pelvis", "left_wrist"} <= names
    assert any(n.endswith("_end") for n in names) == (preset == "MIXAMO")  # leaf bones
    lo, hi = _core("retarget").keyed_range(imported)
    assert hi - lo == last - first
    np.testing.assert_allclose(imported.matrix_world.to_scale(), imported.matrix_world.to_scale()[0], rtol=1e-6)
