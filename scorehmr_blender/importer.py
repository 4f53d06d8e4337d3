"""Turn a result file into scene content: clip, camera, SMPL armature, body mesh, first take.

Everything is created only once the result is in hand, and removed again if any step fails,
so a failed or cancelled import leaves the scene as it was.
"""
import os

import bpy
import numpy as np

from ..smplcore.result import MotionResult
from . import anim_compat, armature, body, keying
from .properties import SOURCE_TAG


class _Created:
    """Datablocks made so far, removed in reverse order when the import fails."""

    def __init__(self):
        self.ids = []

    def add(self, datablock):
        self.ids.append(datablock)
        return datablock

    def remove_all(self):
        # objects before their data: removing object data also deletes the objects using it
        ordered = sorted(reversed(self.ids), key=lambda d: not isinstance(d, bpy.types.Object))
        for datablock in ordered:
            getattr(bpy.data, _DATA_COLLECTIONS[type(datablock).__name__]).remove(datablock)


_DATA_COLLECTIONS = {"Object": "objects", "Mesh": "meshes", "Armature": "armatures", "Camera": "cameras",
                     "MovieClip": "movieclips", "Action": "actions", "Collection": "collections"}


def import_result(context, result_path, video_path="", body_model_path=""):
    """Build the scene content for a result file; returns the SMPL armature object."""
    result = MotionResult.load(result_path)
    model = body.load_body_model(body_model_path)
    scene = context.scene
    stem = os.path.splitext(os.path.basename(video_path or result_path))[0]
    created = _Created()
    try:
        collection = created.add(bpy.data.collections.new(f"ScoreHMR {stem}"))
        scene.collection.children.link(collection)
        rest_joints = model.rest_joints(result.betas)
        arm = created.add(armature.create_armature(collection, f"SMPL {stem}", rest_joints))
        created.add(arm.data)
        mesh = created.add(armature.create_body_mesh(collection, f"SMPL body {stem}", model, result.betas, arm))
        created.add(mesh.data)
        action = created.add(anim_compat.assign_new_action(arm, f"{stem} take 1"))
        action.use_fake_user = True  # takes stay recoverable when a later take replaces them
        keying.key_result(arm, result)
        clip = _load_clip(video_path, created) if video_path else None
        camera = _create_camera(collection, f"Camera {stem}", result, clip, created)
        arm[SOURCE_TAG] = os.path.abspath(result_path)
        arm["scorehmr_video"] = os.path.abspath(video_path) if video_path else ""
        arm["scorehmr_body_model"] = model.path
        arm["scorehmr_take"] = 1
    except BaseException:
        created.remove_all()
        raise
    _set_scene_timing(scene, result, clip, camera)
    scene.scorehmr.source = arm
    return arm


def _load_clip(path, created):
    try:
        clip = created.add(bpy.data.movieclips.load(path))
    except RuntimeError as exc:
        raise ValueError(f"cannot open the video {path}: {exc}") from exc
    if clip.frame_duration == 0:  # Blender loads unreadable files as empty clips
        raise ValueError(f"cannot read the video {path}")
    return clip


def _create_camera(collection, name, result, clip, created):
    width, height = (int(v) for v in result.image_size)
    data = created.add(bpy.data.cameras.new(name))
    # pixels -> millimetres on a 36 mm sensor along the longer image side
    data.sensor_fit = "HORIZONTAL" if width >= height else "VERTICAL"
    data.sensor_width = data.sensor_height = 36.0
    data.lens = result.focal_length * 36.0 / max(width, height)
    data.clip_start, data.clip_end = 0.05, 200.0
    if clip is not None:
        background = data.background_images.new()
        background.source = "MOVIE_CLIP"
        background.clip = clip
        background.alpha = 1.0
        data.show_background_images = True
    obj = created.add(bpy.data.objects.new(name, data))
    collection.objects.link(obj)
    # the video camera sits at the origin looking along +Y, up +Z (smplcore.axes)
    obj.rotation_euler = (np.pi / 2, 0.0, 0.0)
    return obj


def _set_scene_timing(scene, result, clip, camera):
    fps = float(result.mocap_framerate)
    scene.render.fps = max(1, int(round(fps)))
    scene.render.fps_base = scene.render.fps / fps
    frames = keying.scene_frames(result)
    scene.frame_start, scene.frame_end = int(frames[0]), int(frames[-1])
    scene.render.resolution_x, scene.render.resolution_y = (int(v) for v in result.image_size)
    scene.render.resolution_percentage = 100
    scene.camera = camera
    if clip is not None:
        clip.frame_start = keying.FRAME_OFFSET
        scene.active_clip = clip
