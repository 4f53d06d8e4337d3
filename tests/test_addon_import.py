"""Import Result through the installed extension: keys, rest pose, camera, undo-safe failure."""
import os
import shutil
import sys

import blender_env
import bpy
import numpy as np
import pytest

from smplcore import axes
from smplcore.skeleton import JOINT_NAMES, PARENTS


@pytest.fixture()
def imported():
    blender_env.fresh_scene()
    model_path = blender_env.body_model_path()
    path = blender_env.tmp_path("walk_result.npz")
    result = blender_env.write_test_result(path, model_path)
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    return bpy.context.scene.scorehmr.source, result, model_path


def _core(name):
    return sys.modules[f"{blender_env.ADDON_MODULE}.scorehmr_blender.{name}"]


def _scene_state():
    """Everything an import may create or change."""
    scene = bpy.context.scene
    return (sorted(bpy.data.objects.keys()), sorted(bpy.data.meshes.keys()), sorted(bpy.data.armatures.keys()),
            sorted(bpy.data.actions.keys()), sorted(bpy.data.cameras.keys()), sorted(bpy.data.movieclips.keys()),
            sorted(bpy.data.collections.keys()), scene.frame_start, scene.frame_end, scene.render.fps,
            scene.camera, scene.render.resolution_x)


def test_one_key_per_valid_frame_per_bone(imported):
    arm, result, _ = imported
    bag = _core("anim_compat").channelbag(arm, ensure=False)
    valid_frames = result.frame_index[result.valid] + 1
    rotation_curves = [fc for fc in bag.fcurves if fc.data_path.endswith("rotation_quaternion")]
    assert len(rotation_curves) == 24 * 4
    for fcurve in bag.fcurves:
        keys = np.array([kp.co[0] for kp in fcurve.keyframe_points])
        if fcurve.data_path == '["scorehmr_tracked"]':  # 1/0 per frame: is the person there
            values = np.array([kp.co[1] for kp in fcurve.keyframe_points])
            np.testing.assert_array_equal(values, result.valid.astype(float))
            continue
        np.testing.assert_array_equal(keys, valid_frames)  # invalid frames stay unkeyed
    assert all(pb.rotation_mode == "QUATERNION" for pb in arm.pose.bones)
    bones = arm.data.bones
    assert sorted(bones.keys()) == sorted(JOINT_NAMES)
    for name, parent in zip(JOINT_NAMES, PARENTS):
        assert (bones[name].parent.name if bones[name].parent else None) == (JOINT_NAMES[parent] if parent >= 0 else None)


def test_world_joints_match_body_model_fk(imported):
    arm, result, model_path = imported
    body = _core("body")
    expected = axes.opencv_points_to_blender(body.posed_joints_camera(body.load_body_model(model_path), result))
    scene = bpy.context.scene
    for i in (0, 6, 9, 20, result.num_frames - 1):  # 6 and 9 neighbour the invalid frames 7, 8
        scene.frame_set(int(result.frame_index[i]) + 1)
        got = np.array([arm.matrix_world @ arm.pose.bones[name].head for name in JOINT_NAMES])
        assert np.abs(got - expected[i]).max() < 0.01, f"frame {i}"


def test_rest_pose_mesh_camera_and_timing(imported):
    arm, result, model_path = imported
    model = _core("body").load_body_model(model_path)
    rest = axes.smpl_points_to_blender(model.rest_joints(result.betas))
    heads = np.array([arm.data.bones[name].head_local for name in JOINT_NAMES])
    np.testing.assert_allclose(heads, rest, atol=1e-5)
    mesh = next(o for o in arm.children if o.type == "MESH")
    assert len(mesh.data.vertices) == model.num_vertices
    assert {g.name for g in mesh.vertex_groups} == set(JOINT_NAMES)
    assert mesh.modifiers["Armature"].object == arm
    scene = bpy.context.scene
    assert scene.render.fps / scene.render.fps_base == pytest.approx(result.mocap_framerate)
    assert (scene.frame_start, scene.frame_end) == (1, result.num_frames)
    camera = scene.camera.data
    assert camera.lens / camera.sensor_width * 640 == pytest.approx(result.focal_length)
    # the camera looks along +Y (smplcore.axes): its view axis is its local -Z
    view = np.array(scene.camera.matrix_world.to_3x3()) @ np.array([0.0, 0.0, -1.0])
    np.testing.assert_allclose(view, [0.0, 1.0, 0.0], atol=1e-6)


def test_every_import_makes_a_new_action(imported):
    arm, _, _ = imported
    first = arm.animation_data.action
    path = blender_env.tmp_path("walk_result.npz")
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    second = bpy.context.scene.scorehmr.source
    assert second != arm and second.animation_data.action != first
    assert arm.animation_data.action == first and first.use_fake_user


def test_a_result_of_another_body_model_imports_with_a_warning(imported):
    arm, _, model_path = imported
    assert arm[_core("importer").MODEL_MISMATCH] == ""  # solved on the model in use: nothing to say
    path = blender_env.tmp_path("other_model_result.npz")
    result = blender_env.write_test_result(path, model_path)
    result.body_model = "SMPL_NEUTRAL:0123456789abcdef"
    result.save(path)
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    note = bpy.context.scene.scorehmr.source[_core("importer").MODEL_MISMATCH]
    assert "SMPL_NEUTRAL:0123456789abcdef" in note and "Body Model preference" in note


def test_a_broken_result_leaves_the_scene_unchanged(tmp_path):
    blender_env.fresh_scene()
    before = _scene_state()
    broken = tmp_path / "broken.npz"
    np.savez(broken, poses=np.zeros((3, 72)))
    with pytest.raises(RuntimeError, match="missing"):
        bpy.ops.scorehmr.import_result(filepath=str(broken))
    assert _scene_state() == before


def test_a_failure_while_building_removes_what_was_built(tmp_path):
    blender_env.fresh_scene()
    result_path = blender_env.tmp_path("walk_result.npz")
    blender_env.write_test_result(result_path, blender_env.body_model_path())
    not_a_video = tmp_path / "clip.mp4"
    not_a_video.write_bytes(b"this is not a video")
    before = _scene_state()
    for video in (not_a_video, tmp_path / "missing.mp4"):
        with pytest.raises(RuntimeError, match="video"):
            bpy.ops.scorehmr.import_result(filepath=result_path, video_path=str(video))
        assert _scene_state() == before


def test_import_with_video_background(tmp_path):
    video = os.path.join(blender_env.ROOT, "tests", "data", "walk_excerpt.mp4")
    if not os.path.isfile(video):
        pytest.skip("no test video")
    blender_env.fresh_scene()
    result_path = blender_env.tmp_path("walk_result.npz")
    blender_env.write_test_result(result_path, blender_env.body_model_path())
    shutil.copy(video, tmp_path / "walk.mp4")
    assert bpy.ops.scorehmr.import_result(filepath=result_path, video_path=str(tmp_path / "walk.mp4")) == {"FINISHED"}
    scene = bpy.context.scene
    camera = scene.camera.data
    assert camera.show_background_images and camera.background_images[0].clip == scene.active_clip
    assert scene.active_clip.frame_start == 1


def test_hand_edits_become_fixed_poses(imported):
    arm, result, _ = imported
    refine = _core("keying")
    assert refine.edited_poses(arm, result, 1, result.num_frames) == {}  # keys equal the take
    bone = arm.pose.bones["left_elbow"]
    bpy.context.scene.frame_set(12)
    bone.rotation_quaternion = (0.9, 0.3, 0.1, 0.0)
    bone.keyframe_insert("rotation_quaternion", frame=12)
    fixed = refine.edited_poses(arm, result, 10, 20)
    assert list(fixed) == ["11"]  # video frame 11 = scene frame 12
    poses, _ = _core("keying").read_poses(arm, [12])
    np.testing.assert_allclose(fixed["11"], poses[0], atol=1e-6)
    from smplcore import rotations

    got = rotations.axis_angle_to_matrix(np.reshape(fixed["11"], (24, 3)))
    want = rotations.axis_angle_to_matrix(result.poses[11].reshape(24, 3))
    differs = np.abs(got - want).max(axis=(1, 2)) > 1e-4
    assert differs.tolist() == [name == "left_elbow" for name in JOINT_NAMES]


def test_operator_polls_follow_the_scene():
    blender_env.fresh_scene()
    assert bpy.ops.scorehmr.import_video.poll() and bpy.ops.scorehmr.import_result.poll()
    assert not bpy.ops.scorehmr.refine_frames.poll() and not bpy.ops.scorehmr.bake_to_armature.poll()
    assert not bpy.ops.scorehmr.export.poll() and not bpy.ops.scorehmr.cancel.poll()
    path = blender_env.tmp_path("walk_result.npz")
    blender_env.write_test_result(path, blender_env.body_model_path())
    bpy.ops.scorehmr.import_result(filepath=path)
    assert bpy.ops.scorehmr.refine_frames.poll() and bpy.ops.scorehmr.export.poll()  # the SMPL armature
    assert not bpy.ops.scorehmr.bake_to_armature.poll()  # no target rig yet
    rig, _names = blender_env.build_test_rig("mixamo", "rig", blender_env.body_model_path())
    bpy.context.scene.scorehmr.target = rig
    assert bpy.ops.scorehmr.bake_to_armature.poll()
