"""Turn a result file into scene content: clip, camera, SMPL armature, body mesh, first take.

A result with ``cam_to_world`` (a static camera whose floor was found) is placed in its world:
the armature and the camera both get the same transform, so the person stands on the floor at
z = 0 and the camera sits at its height and tilt with its view of the body unchanged; a floor
plane (hidden from renders) shows the ground. Without it the scene stays in the camera frame.
A further person of a shot already in the scene (the same video, lens and camera placement: the
backend gives everyone of a shot one world) joins that shot's camera instead of bringing another.

Everything is created only once the result is in hand, and removed again if any step fails,
so a failed or cancelled import leaves the scene as it was.
"""
import json
import os

import bpy
import numpy as np

from mathutils import Matrix

from ..smplcore import axes
from ..smplcore.body_model_file import default_smplh_model_path
from ..smplcore.result import MotionResult
from ..smplcore.skeleton import NUM_BODY_JOINTS_SMPLH
from . import anim_compat, armature, body, keying, retarget, takes


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


WORLD_NOTE = "scorehmr_world_note"   # custom property: why the import has no floor
SHOT = "scorehmr_shot"               # custom property of a video camera: the shot it films (shot_key)
MODEL_MISMATCH = "scorehmr_body_model_mismatch"  # custom property: the result's body model is another one
FLOOR_MARGIN = 1.5                   # metres of floor around the path of the root

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
        fingers, mesh_model = None, model
        if result.hand_poses is not None and scene.scorehmr.hands:
            # fingers live on the shipped SMPL-H body with fingers (same betas, same body within mm)
            mesh_model = body.load_body_model(default_smplh_model_path(), tree="smplh")
            fingers = mesh_model.rest_joints(result.betas)[NUM_BODY_JOINTS_SMPLH:]
        arm = created.add(armature.create_armature(collection, f"SMPL {stem}", rest_joints, fingers))
        created.add(arm.data)
        mesh = created.add(armature.create_body_mesh(collection, f"SMPL body {stem}", mesh_model, result.betas, arm))
        created.add(mesh.data)
        action = created.add(anim_compat.assign_new_action(arm, takes.take_name(stem, 1)))
        takes.new_take(arm, action, os.path.abspath(result_path))
        keying.key_result(arm, result)
        gaps = _mark_missing_person(scene, arm, mesh, result, created)
        keying.key_hands(arm, result)
        shot = shot_key(video_path, result)
        camera = _shot_camera(scene, shot)   # a further person of a shot already imported joins its camera
        clip = None
        if camera is None:
            clip = _load_clip(video_path, created) if video_path else None
            camera = _create_camera(collection, f"Camera {stem}", result, clip, created)
            camera[SHOT] = shot
            placed = (arm, camera)
        else:
            placed = (arm,)
        if result.cam_to_world is not None and np.ndim(result.cam_to_world) == 2:
            _place_in_world(collection, f"Floor {stem}", result, placed, created)
            arm[retarget.STANDING_HIPS] = standing_hips(mesh_model, result.betas)
        arm[WORLD_NOTE] = result.world_note
        arm["scorehmr_video"] = os.path.abspath(video_path) if video_path else ""
        arm["scorehmr_body_model"] = model.path
        arm[MODEL_MISMATCH] = body_model_mismatch(result, model)
    except BaseException:
        created.remove_all()
        raise
    _set_scene_timing(scene, result, clip, camera)
    scene.scorehmr.source = arm
    _select_and_frame(context, arm, mesh)
    arm["scorehmr_gaps"] = len(gaps)
    return arm


def shot_key(video_path, result) -> str:
    """What makes two imports one shot's, filmed by one camera: the same video, image and lens,
    and the camera in the same place (the same world — the backend gives everyone of a shot one —
    or both in the camera frame). "" without a video: such an import keeps its own camera."""
    if not video_path:
        return ""
    world = None if result.cam_to_world is None else np.round(np.asarray(result.cam_to_world, np.float64), 6).tolist()
    return json.dumps({"video": os.path.abspath(video_path), "image": [int(v) for v in result.image_size],
                       "focal": round(float(result.focal_length), 3), "world": world})


def _shot_camera(scene, shot):
    """The scene's video camera of this shot, or None."""
    if not shot:
        return None
    return next((o for o in scene.objects if o.type == "CAMERA" and o.get(SHOT) == shot), None)


def standing_hips(model, betas) -> float:
    """How high the hips stand above the soles in the rest pose, metres (Bake to Armature
    measures the body's height above the floor from it)."""
    up = axes.smpl_points_to_blender(model.rest_vertices(betas))[:, 2]
    return float(axes.smpl_points_to_blender(model.rest_joints(betas)[:1])[0, 2] - up.min())


def body_model_mismatch(result, model) -> str:
    """Why the body model in use is not the one the result was solved on ("" when it is): the
    poses still mean the same, but its betas shape another skeleton, so the body differs."""
    if result.body_model == model.model_id:
        return ""
    return (f"the result was solved on body model {result.body_model}, but the body model in use is "
            f"{model.model_id}: its shape is shown on that model; set the Body Model preference to "
            "the one the result was made with")


MISSING_MARKER = "no person"
SENSOR_MM = 36.0  # the video camera's sensor along the image's longer side


def missing_spans(result):
    """(first, last) scene frames of each run of frames without the person."""
    frames = keying.scene_frames(result)
    missing = ~np.asarray(result.valid, bool)
    spans, start = [], None
    for frame, gap in zip(frames, missing):
        if gap and start is None:
            start = frame
        if not gap and start is not None:
            spans.append((int(start), int(frame) - 1))
            start = None
    if start is not None:
        spans.append((int(start), int(frames[-1])))
    return spans


def _mark_missing_person(scene, arm, mesh, result, created):
    """Frames without the person: a timeline marker where each gap starts, the body hidden there
    (keyed visibility, constant steps) and ``scorehmr_tracked`` (1/0) on the armature."""
    spans = missing_spans(result)
    frames = keying.scene_frames(result)
    tracked = np.asarray(result.valid, bool).astype(np.float64)
    arm["scorehmr_tracked"] = 1.0
    bag = anim_compat.channelbag(arm)
    curve = anim_compat.ensure_fcurve(bag, '["scorehmr_tracked"]', 0, "ScoreHMR")
    anim_compat.set_keys(curve, frames, tracked, interpolation="CONSTANT")
    if not spans:
        return spans
    action = created.add(anim_compat.assign_new_action(mesh, f"{mesh.name} visibility"))
    action.use_fake_user = False
    mesh_bag = anim_compat.channelbag(mesh)
    hidden = 1.0 - tracked
    for path in ("hide_viewport", "hide_render"):
        anim_compat.set_keys(anim_compat.ensure_fcurve(mesh_bag, path, 0, "Visibility"), frames, hidden,
                             interpolation="CONSTANT")
    for first, last in spans:
        marker = scene.timeline_markers.new(f"{MISSING_MARKER} ({last - first + 1})", frame=first)
        marker.select = False
    return spans


def _select_and_frame(context, arm, mesh):
    """The new armature selected and active (others deselected); the 3D views frame the body."""
    view_layer = context.view_layer
    for obj in view_layer.objects.selected:
        obj.select_set(False)
    arm.select_set(True)
    view_layer.objects.active = arm
    window = context.window
    if window is None:
        return
    for area in window.screen.areas:
        if area.type != "VIEW_3D":
            continue
        region = next((r for r in area.regions if r.type == "WINDOW"), None)
        with context.temp_override(window=window, area=area, region=region):
            bpy.ops.view3d.view_selected()


def read_persons_index(index_path):
    """The further persons of a ``person: all`` run: [{person, file (absolute), first_frame,
    last_frame, frames}], main person left out; raises ValueError for a malformed index."""
    import json

    try:
        with open(index_path, encoding="utf-8") as fh:
            index = json.load(fh)
        folder = os.path.dirname(os.path.abspath(index_path))
        return [dict(person=int(p["person"]), file=os.path.join(folder, str(p["file"])),
                     first_frame=int(p["first_frame"]), last_frame=int(p["last_frame"]), frames=int(p["frames"]))
                for p in index["persons"] if not p.get("main")]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the persons index {index_path}: {exc}") from exc


def video_size(path):
    """(width, height) of a video, read through Blender's movie clip loader."""
    try:
        clip = bpy.data.movieclips.load(path)
    except RuntimeError as exc:
        raise ValueError(f"cannot open the video {path}: {exc}") from exc
    try:
        width, height = clip.size
    finally:
        bpy.data.movieclips.remove(clip)
    if not width or not height:
        raise ValueError(f"cannot read the video {path}")
    return int(width), int(height)


def lens_to_focal_px(lens_mm, width, height):
    """35 mm-equivalent lens -> focal length in pixels (36 mm along the longer side, as the camera)."""
    return float(lens_mm) * max(width, height) / SENSOR_MM


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
    data.sensor_width = data.sensor_height = SENSOR_MM
    data.lens = result.focal_length * SENSOR_MM / max(width, height)
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


def _place_in_world(collection, name, result, objects, created):
    """Move the camera-frame scene into the result's world and lay a floor under the motion."""
    to_world = axes.camera_scene_to_world(result.cam_to_world)
    for obj in objects:
        obj.matrix_world = Matrix(to_world.tolist()) @ obj.matrix_basis
    m = np.asarray(result.cam_to_world, np.float64)
    path = result.trans[result.valid] @ m[:3, :3].T + m[:3, 3]
    (x0, y0), (x1, y1) = path[:, :2].min(0) - FLOOR_MARGIN, path[:, :2].max(0) + FLOOR_MARGIN
    mesh = created.add(bpy.data.meshes.new(name))
    mesh.from_pydata([(x0, y0, 0.0), (x1, y0, 0.0), (x1, y1, 0.0), (x0, y1, 0.0)], [], [(0, 1, 2, 3)])
    floor = created.add(bpy.data.objects.new(name, mesh))
    floor.hide_render = True   # a reference for the animator, not part of the shot
    collection.objects.link(floor)
    return floor


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
