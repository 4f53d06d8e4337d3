"""SMPL poses <-> keys on the SMPL armature (quaternions per bone + root location).

Pose bone channels are relative to each bone's rest orientation B (armature space, with roll):
a SMPL local rotation R (SMPL body axes) becomes B^T (S R S^T) B with S = SMPL->Blender, and the
global orientation (body -> camera) goes through ``axes.root_rotation_to_blender``.
"""
import numpy as np

from ..smplcore import axes, rotations
from ..smplcore.skeleton import JOINT_NAMES, NUM_JOINTS
from . import anim_compat
from .armature import FINGER_NAMES, has_fingers, rest_heads, rest_rotations

# Scene frame of video frame 0: movie clips start at scene frame 1.
FRAME_OFFSET = 1
# A keyed pose further than this from the take's result counts as edited by hand.
EDIT_ANGLE = 1e-3   # radians
EDIT_SHIFT = 1e-3   # metres
ROOT = JOINT_NAMES[0]


def _rot_path(name):
    return f'pose.bones["{name}"].rotation_quaternion'


def _loc_path(name):
    return f'pose.bones["{name}"].location'


def poses_to_channels(poses, trans, rest_rot, root_head):
    """poses (T, 72) axis-angle, trans (T, 3) camera frame -> quats (T, 24, 4), root loc (T, 3)."""
    local = rotations.axis_angle_to_matrix(np.asarray(poses, np.float64).reshape(-1, NUM_JOINTS, 3))
    bone_space = local_to_bone_space(local, rest_rot[None])
    root = axes.root_rotation_to_blender(local[:, 0])
    bone_space[:, 0] = rest_rot[0].T @ root @ rest_rot[0]
    quats = rotations.quaternion_continuity(rotations.matrix_to_quaternion(bone_space))
    root_rest_smpl = axes.blender_points_to_smpl(root_head)
    root_world = axes.opencv_points_to_blender(root_rest_smpl + np.asarray(trans, np.float64))
    loc = (root_world - root_head) @ rest_rot[0]  # B0^T (world - rest head), row vectors
    return quats, loc


def channels_to_poses(quats, loc, rest_rot, root_head):
    """Inverse of :func:`poses_to_channels`."""
    bone_space = rotations.quaternion_to_matrix(quats)
    in_blender = rest_rot[None] @ bone_space @ np.swapaxes(rest_rot, -1, -2)[None]
    s = axes.SMPL_TO_BLENDER
    local = s.T @ in_blender @ s
    local[:, 0] = axes.root_rotation_from_blender(in_blender[:, 0])
    poses = rotations.matrix_to_axis_angle(local).reshape(-1, NUM_JOINTS * 3)
    root_world = root_head + np.asarray(loc, np.float64) @ rest_rot[0].T
    trans = axes.blender_points_to_opencv(root_world) - axes.blender_points_to_smpl(root_head)
    return poses, trans


def scene_frames(result):
    return np.asarray(result.frame_index, np.int64) + FRAME_OFFSET


def key_result(arm_obj, result, replace_range=None):
    """Key every valid frame of ``result`` into the armature's active Action.

    With ``replace_range=(first, last)`` (scene frames) only keys inside it are replaced.
    """
    rest_rot, heads = rest_rotations(arm_obj), rest_heads(arm_obj)
    quats, loc = poses_to_channels(result.poses, result.trans, rest_rot, heads[0])
    frames = scene_frames(result)
    keep = np.asarray(result.valid, bool)
    if replace_range is not None:
        keep &= (frames >= replace_range[0]) & (frames <= replace_range[1])
    frames, quats, loc = frames[keep], quats[keep], loc[keep]
    bag = anim_compat.channelbag(arm_obj)
    if replace_range is not None and len(frames):
        quats = _match_hemisphere(bag, frames[0] - 1, quats)
    for j, name in enumerate(JOINT_NAMES):
        for i in range(4):
            fcurve = anim_compat.ensure_fcurve(bag, _rot_path(name), i, name)
            anim_compat.set_keys(fcurve, frames, quats[:, j, i], replace_range)
    for i in range(3):
        fcurve = anim_compat.ensure_fcurve(bag, _loc_path(ROOT), i, ROOT)
        anim_compat.set_keys(fcurve, frames, loc[:, i], replace_range)
    return len(frames)


def local_to_bone_space(local, rest_rot):
    """SMPL local rotations (..., N, 3, 3) in the body frame -> pose-bone channels of bones with
    rest orientations ``rest_rot`` (N, 3, 3): B^T (S R S^T) B."""
    s = axes.SMPL_TO_BLENDER
    return np.swapaxes(rest_rot, -1, -2) @ (s @ local @ s.T) @ rest_rot


def key_hands(arm_obj, result):
    """Key the finger bones on the frames where ``result`` saw each hand (Blender interpolates
    across the others). Returns the number of keyed (frame, hand) pairs; 0 without hands."""
    if result.hand_poses is None or not has_fingers(arm_obj):
        return 0
    local = rotations.axis_angle_to_matrix(np.asarray(result.hand_poses, np.float64).reshape(-1, 30, 3))
    quats = rotations.quaternion_continuity(rotations.matrix_to_quaternion(
        local_to_bone_space(local, rest_rotations(arm_obj, FINGER_NAMES)[None])))
    frames = scene_frames(result)
    bag = anim_compat.channelbag(arm_obj)
    for h in range(2):
        seen = np.asarray(result.hand_valid[:, h], bool)
        for j in range(15 * h, 15 * h + 15):
            name = FINGER_NAMES[j]
            for i in range(4):
                fcurve = anim_compat.ensure_fcurve(bag, _rot_path(name), i, name)
                anim_compat.set_keys(fcurve, frames[seen], quats[seen, j, i], None)
    return int(np.asarray(result.hand_valid).sum())


def _match_hemisphere(bag, frame, quats):
    """Flip new quaternions per bone to the sign of the key before the seam (no interpolation pop)."""
    before = np.array([[_evaluate(bag, _rot_path(name), i, frame) for i in range(4)] for name in JOINT_NAMES])
    flip = np.sum(before * quats[0], axis=-1) < 0
    quats = quats.copy()
    quats[:, flip] *= -1
    return quats


def _evaluate(bag, path, index, frame):
    fcurve = bag.fcurves.find(path, index=index)
    return fcurve.evaluate(frame) if fcurve is not None else (1.0 if index == 0 and "rotation" in path else 0.0)


def keyed_frames(arm_obj, first, last):
    """Scene frames in [first, last] that carry a key on any SMPL channel."""
    bag = anim_compat.channelbag(arm_obj, ensure=False)
    if bag is None:
        return np.zeros(0, np.int64)
    frames = set()
    for fcurve in bag.fcurves:
        if fcurve.data_path.startswith("pose.bones["):
            keys = anim_compat.read_keys(fcurve)[:, 0]
            frames.update(np.round(keys[(keys >= first) & (keys <= last)]).astype(int).tolist())
    return np.array(sorted(frames), np.int64)


def read_poses(arm_obj, frames):
    """SMPL poses (N, 72) and trans (N, 3) of the armature's Action at scene ``frames``."""
    bag = anim_compat.channelbag(arm_obj, ensure=False)
    quats = np.array([[[_evaluate(bag, _rot_path(name), i, f) for i in range(4)] for name in JOINT_NAMES]
                      for f in frames]).reshape(-1, NUM_JOINTS, 4)
    loc = np.array([[_evaluate(bag, _loc_path(ROOT), i, f) for i in range(3)] for f in frames]).reshape(-1, 3)
    return channels_to_poses(quats, loc, rest_rotations(arm_obj), rest_heads(arm_obj)[0])


def edited_poses(arm_obj, result, first, last):
    """{video frame: 72 floats} for keys in scene frames [first, last] the user changed since the
    take's result was keyed (or keyed where the result has no pose)."""
    frames = keyed_frames(arm_obj, first, last)
    if not len(frames):
        return {}
    poses, trans = read_poses(arm_obj, frames)
    lookup = {int(f): i for i, f in enumerate(scene_frames(result))}
    fixed = {}
    for frame, pose, shift in zip(frames, poses, trans):
        i = lookup.get(int(frame))
        if i is not None and result.valid[i]:
            angle = rotations.geodesic_angle(rotations.axis_angle_to_matrix(np.reshape(pose, (-1, 3))),
                                             rotations.axis_angle_to_matrix(np.reshape(result.poses[i], (-1, 3))))
            if float(np.max(angle)) < EDIT_ANGLE and np.abs(shift - result.trans[i]).max() < EDIT_SHIFT:
                continue
        fixed[str(int(frame) - FRAME_OFFSET)] = [float(v) for v in pose]
    return fixed


def selected_key_range(arm_obj):
    """(first, last) scene frames of the armature's selected keyframes (Dope Sheet / Graph
    Editor selection) on its bone channels, or None when none is selected."""
    bag = anim_compat.channelbag(arm_obj, ensure=False)
    if bag is None:
        return None
    lo, hi = None, None
    for fcurve in bag.fcurves:
        if not fcurve.data_path.startswith("pose.bones[") or not len(fcurve.keyframe_points):
            continue
        points = fcurve.keyframe_points
        selected = np.zeros(len(points), bool)
        points.foreach_get("select_control_point", selected)
        if selected.any():
            frames = anim_compat.read_keys(fcurve)[selected, 0]
            lo = frames.min() if lo is None else min(lo, frames.min())
            hi = frames.max() if hi is None else max(hi, frames.max())
    return None if lo is None else (int(round(lo)), int(round(hi)))
