"""World placement on import: a result solved by the real backend on the bundled (static-camera)
clip stands on the floor at z = 0, its camera sees the body exactly as the camera-frame import
does, and a result without ``cam_to_world`` imports as before."""
import os
import subprocess

import blender_env
import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view

from smplcore.result import MotionResult
from smplcore.skeleton import JOINT_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEET = ("left_ankle", "right_ankle", "left_foot", "right_foot")


@pytest.fixture(scope="module")
def results():
    """The backend's result on the bundled clip, and the same without its world frame."""
    world = blender_env.tmp_path("walk_world.npz")
    run = subprocess.run([blender_env.backend_python(), "-m", "backend", "run", os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4"),
                          "--out", world, "--overwrite"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    result = MotionResult.load(world)
    assert result.cam_to_world is not None, result.world_note
    camera_frame = blender_env.tmp_path("walk_camera_frame.npz")
    result.cam_to_world = None
    result.save(camera_frame)
    return world, camera_frame


def _import(path):
    blender_env.fresh_scene()
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    return bpy.context.scene.scorehmr.source


def _track(arm, bones, result_path=None):
    """World positions (T, len(bones), 3) and camera-view pixels of the bones' heads, per valid
    frame of ``result_path`` (None: the result ``arm`` was imported from)."""
    scene = bpy.context.scene
    result = MotionResult.load(result_path or arm["scorehmr_result"])
    frames = result.frame_index[result.valid] + 1
    width, height = scene.render.resolution_x, scene.render.resolution_y
    world, pixels = [], []
    for frame in frames:
        scene.frame_set(int(frame))
        heads = [arm.matrix_world @ arm.pose.bones[name].head for name in bones]
        world.append([tuple(h) for h in heads])
        view = [world_to_camera_view(scene, scene.camera, h) for h in heads]
        pixels.append([(v.x * width, (1 - v.y) * height) for v in view])
    return np.array(world), np.array(pixels)


def test_planted_feet_stand_on_the_floor_and_the_camera_view_is_unchanged(results):
    world_path, camera_path = results
    arm = _import(world_path)
    assert arm.matrix_world.to_translation().length > 0.1 or arm.matrix_world.to_euler().x != 0
    floor = next(o for o in arm.users_collection[0].objects if o.name.startswith("Floor"))
    assert floor.hide_render and max(abs(v.co.z) for v in floor.data.vertices) == 0.0
    feet, world_pixels = _track(arm, JOINT_NAMES)
    feet = feet[:, [JOINT_NAMES.index(n) for n in FEET]]
    # each foot joint's rest height above the sole: where it is when that part of the foot is down
    model = blender_env.load_body_model_file(blender_env.body_model_path())
    result = MotionResult.load(world_path)
    rest_up = model.rest_joints(result.betas)[:, 1] - model.rest_vertices(result.betas)[:, 1].min()
    sole = feet[..., 2] - rest_up[[JOINT_NAMES.index(n) for n in FEET]]               # (T, 4)
    speed = np.zeros(sole.shape)
    speed[1:] = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * result.mocap_framerate
    speed[0] = speed[1]  # the first frame has no earlier one: its speed is that of the step after it
    ground = np.minimum(sole[:, :2], sole[:, 2:])                                          # per foot
    planted = np.minimum(speed[:, :2], speed[:, 2:]) < 0.3
    assert planted.sum() >= 20
    assert np.abs(ground[planted]).max() < 0.03, np.round(ground[planted], 3)
    # the camera frame import: the camera at the origin, nothing moved, no floor; same pixels
    arm = _import(camera_path)
    assert np.allclose(np.array(arm.matrix_world), np.eye(4))
    assert not any(o.name.startswith("Floor") for o in bpy.data.objects)
    _, camera_pixels = _track(arm, JOINT_NAMES)
    assert np.abs(world_pixels - camera_pixels).max() < 1.0


def test_a_rig_standing_on_the_floor_keeps_its_planted_feet_on_it_when_baked(results):
    """Bake (travelling root) onto a rig standing on the floor in its rest pose: where the walk's
    feet are planted, the rig's feet are down too, at their rest height. (The hips' height
    counted from the first frame, bent-kneed on this clip, left the rig 7 cm above the floor.)"""
    world_path, _ = results
    source = _import(world_path)
    rig, names = blender_env.build_test_rig("mixamo", "Character", blender_env.body_model_path())
    bpy.context.scene.scorehmr.target = rig
    assert bpy.ops.scorehmr.bake_to_armature(target=rig.name) == {"FINISHED"}
    bones = [names[n] for n in FEET]
    rest = np.array([tuple(rig.matrix_world @ rig.data.bones[b].head_local) for b in bones])
    assert np.abs(rest[:, 2].min() - 0.05 * 1.15) < 1e-6   # the rig as built: feet on the floor at z = 0
    feet, _ = _track(rig, bones, world_path)
    down = feet[..., 2] - rest[:, 2]                                                     # (T, 4)
    speed = np.zeros(down.shape)
    speed[1:] = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * MotionResult.load(world_path).mocap_framerate
    speed[0] = speed[1]
    ground = np.minimum(down[:, :2], down[:, 2:])                                         # per foot
    planted = np.minimum(speed[:, :2], speed[:, 2:]) < 0.3 * 1.15
    assert planted.sum() >= 20
    assert np.abs(ground[planted]).max() < 0.03, np.round(ground[planted], 3)
    assert source["scorehmr_standing_hips"] > 0.8
