"""Refine Selected Frames: re-solve a frame range with the backend, keeping hand-edited keys."""
import os

import bpy
import numpy as np

from ..smplcore import rotations
from ..smplcore.result import MotionResult
from ..scorehmr_blender import anim_compat, jobs, keying, tasks
from ..scorehmr_blender.properties import SOURCE_TAG, is_smpl_armature
from .task_operator import TaskOperator

# A keyed pose further than this from the take's result counts as edited by hand.
EDIT_ANGLE = 1e-3   # radians
EDIT_SHIFT = 1e-3   # metres


def refine_range(context):
    """Scene frames to refine: the preview range when enabled, else the sidebar's range."""
    scene, settings = context.scene, context.scene.scorehmr
    if settings.refine_use_preview and scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    return settings.refine_start, settings.refine_end


def edited_poses(arm, result, first, last):
    """{video frame: 72 floats} for keys in [first, last] the user changed since the take."""
    frames = keying.keyed_frames(arm, first, last)
    if not len(frames):
        return {}
    poses, trans = keying.read_poses(arm, frames)
    lookup = {int(f): i for i, f in enumerate(keying.scene_frames(result))}
    fixed = {}
    for frame, pose, shift in zip(frames, poses, trans):
        i = lookup.get(int(frame))
        if i is not None and result.valid[i]:
            angle = _max_angle_between(pose, result.poses[i])
            moved = np.abs(shift - result.trans[i]).max()
            if angle < EDIT_ANGLE and moved < EDIT_SHIFT:
                continue
        fixed[str(int(frame) - keying.FRAME_OFFSET)] = [float(v) for v in pose]
    return fixed


def _max_angle_between(pose_a, pose_b):
    """Largest per-joint rotation angle between two poses (axis-angle is ambiguous near pi)."""
    a = rotations.axis_angle_to_matrix(np.reshape(pose_a, (-1, 3)))
    b = rotations.axis_angle_to_matrix(np.reshape(pose_b, (-1, 3)))
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1.0) / 2.0
    return float(np.arccos(np.clip(cos, -1.0, 1.0)).max())


class SCOREHMR_OT_refine_frames(TaskOperator, bpy.types.Operator):
    """Re-solve only the chosen frame range (hand-edited keys in it are kept as constraints) and
    re-key it in a new take; the previous take stays as its own Action"""

    bl_idname = "scorehmr.refine_frames"
    bl_label = "Refine Selected Frames"
    bl_options = {"REGISTER", "UNDO"}

    frame_start: bpy.props.IntProperty(name="Start", default=-1, description="-1: from the sidebar")
    frame_end: bpy.props.IntProperty(name="End", default=-1, description="-1: from the sidebar")

    @classmethod
    def poll(cls, context):
        arm = context.scene.scorehmr.source
        return tasks.active() is None and is_smpl_armature(arm) and context.mode in {"OBJECT", "POSE"}

    def start_task(self, context):
        arm = context.scene.scorehmr.source
        first, last = refine_range(context)
        if self.frame_start >= 0:
            first = self.frame_start
        if self.frame_end >= 0:
            last = self.frame_end
        if last < first:
            raise ValueError(f"empty frame range {first}-{last}")
        result_path = arm[SOURCE_TAG]
        result = MotionResult.load(result_path)
        fixed = edited_poses(arm, result, first, last)
        self._arm, self._range = arm, (first, last)
        return jobs.start_refine(context, result_path, first - keying.FRAME_OFFSET,
                                 last - keying.FRAME_OFFSET, fixed)

    def finish_task(self, context, task):
        arm, (first, last) = self._arm, self._range
        result = MotionResult.load(task.job.result_path)
        previous = arm.animation_data.action
        previous.use_fake_user = True
        take = int(arm.get("scorehmr_take", 1)) + 1
        action = previous.copy()
        action.name = f"{previous.name.rsplit(' take ', 1)[0]} take {take}"
        anim_compat.assign_action(arm, action)
        keying.key_result(arm, result, replace_range=(first, last))
        arm[SOURCE_TAG] = os.path.abspath(task.job.result_path)
        arm["scorehmr_take"] = take
        tasks.last_status = f"Refined frames {first}-{last} into {action.name}"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}


classes = (SCOREHMR_OT_refine_frames,)
