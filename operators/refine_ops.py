"""Refine Selected Frames (re-solve a range, keeping hand-edited keys) and the take files."""
import os

import bpy

from ..smplcore.result import MotionResult, ResultFileError
from ..scorehmr_blender import anim_compat, jobs, keying, takes, tasks
from ..scorehmr_blender.properties import is_smpl_armature
from .task_operator import TaskOperator


def refine_range(context, arm):
    """(first, last, where from): the selected keyframes of the armature, else the preview range,
    else the sidebar's Start/End."""
    selected = keying.selected_key_range(arm)
    if selected is not None:
        return (*selected, "selected keys")
    scene, settings = context.scene, context.scene.scorehmr
    if scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end, "preview range"
    return settings.refine_start, settings.refine_end, "Start/End"


def _source(context):
    arm = context.scene.scorehmr.source
    if not is_smpl_armature(arm):
        raise ValueError("choose the SMPL armature made by Import Video or Import Result")
    return arm


class SCOREHMR_OT_refine_frames(TaskOperator, bpy.types.Operator):
    """Re-solve the selected keyframes' frames (else the preview range, else Start/End); keys you
    edited in that range are kept as constraints. The result is a new take; the old one stays"""

    bl_idname = "scorehmr.refine_frames"
    bl_label = "Refine Selected Frames"
    bl_options = {"REGISTER", "UNDO"}

    frame_start: bpy.props.IntProperty(name="Start", default=-1, description="-1: from the selection")
    frame_end: bpy.props.IntProperty(name="End", default=-1, description="-1: from the selection")

    @classmethod
    def poll(cls, context):
        arm = context.scene.scorehmr.source
        if tasks.active() is not None:
            cls.poll_message_set("Another ScoreHMR task is running")
            return False
        if not is_smpl_armature(arm):
            cls.poll_message_set("Import a video or a result first (no SMPL armature chosen)")
            return False
        if context.mode not in {"OBJECT", "POSE"}:
            cls.poll_message_set("Works in Object or Pose mode")
            return False
        return True

    def start_task(self, context):
        arm = _source(context)
        result_path = takes.result_path(arm)
        first, last, _where = refine_range(context, arm)
        if self.frame_start >= 0:
            first = self.frame_start
        if self.frame_end >= 0:
            last = self.frame_end
        if last < first:
            raise ValueError(f"empty frame range {first}-{last}")
        try:
            result = MotionResult.load(result_path)
        except ResultFileError as exc:
            raise ValueError(f"the take's result file cannot be read: {exc}") from exc
        frames = keying.scene_frames(result)
        if last < frames[0] or first > frames[-1]:
            raise ValueError(f"frames {first}-{last} are outside the motion ({frames[0]}-{frames[-1]})")
        first, last = max(first, int(frames[0])), min(last, int(frames[-1]))
        fixed = keying.edited_poses(arm, result, first, last)
        self._arm_name, self._range = arm.name, (first, last)
        return jobs.start_refine(context, result_path, first - keying.FRAME_OFFSET, last - keying.FRAME_OFFSET, fixed)

    def finish_task(self, context, task):
        arm = bpy.data.objects.get(self._arm_name)
        if not is_smpl_armature(arm) or arm.animation_data is None or arm.animation_data.action is None:
            raise ValueError(f"the armature {self._arm_name} or its Action was removed while refining")
        first, last = self._range
        result = MotionResult.load(task.job.result_path)
        previous = arm.animation_data.action
        action = previous.copy()
        number = takes.new_take(arm, action, os.path.abspath(task.job.result_path))
        action.name = takes.take_name(previous.name.rsplit(" take ", 1)[0], number)
        anim_compat.assign_action(arm, action)
        keying.key_result(arm, result, replace_range=(first, last))
        tasks.last_status = f"Refined frames {first}-{last} into {action.name}"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}


class SCOREHMR_OT_switch_take(bpy.types.Operator):
    """Make this take the SMPL armature's Action (Refine then starts from its result file)"""

    bl_idname = "scorehmr.switch_take"
    bl_label = "Switch Take"
    bl_options = {"REGISTER", "UNDO"}

    action: bpy.props.StringProperty(name="Take")

    def execute(self, context):
        arm = context.scene.scorehmr.source
        take = bpy.data.actions.get(self.action)
        if not is_smpl_armature(arm) or not takes.is_take_of(take, arm):
            self.report({"ERROR"}, f"'{self.action}' is not a take of the chosen SMPL armature")
            return {"CANCELLED"}
        anim_compat.assign_action(arm, take)
        tasks.last_status = f"Take: {take.name}"
        return {"FINISHED"}


class SCOREHMR_OT_show_take_files(bpy.types.Operator):
    """Open the folder holding the result files of the SMPL armature's takes"""

    bl_idname = "scorehmr.show_take_files"
    bl_label = "Show Take Files"

    @classmethod
    def poll(cls, context):
        if not is_smpl_armature(context.scene.scorehmr.source):
            cls.poll_message_set("No SMPL armature chosen")
            return False
        return True

    def execute(self, context):
        files = takes.take_files(_source(context))
        folder = os.path.dirname(files[-1]) if files else takes.results_dir()
        self.report({"INFO"}, f"Take files: {folder}")
        if not bpy.app.background:
            bpy.ops.wm.path_open(filepath=folder)
        return {"FINISHED"}


class SCOREHMR_OT_move_take_files(bpy.types.Operator):
    """Copy the takes' result files next to the saved .blend (<name>_scorehmr/) and use the copies,
    so the .blend and its motion can be moved or shared together"""

    bl_idname = "scorehmr.move_take_files"
    bl_label = "Move Take Files Next to .blend"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not bpy.data.filepath:
            cls.poll_message_set("Save the .blend file first")
            return False
        if not is_smpl_armature(context.scene.scorehmr.source):
            cls.poll_message_set("No SMPL armature chosen")
            return False
        return True

    def execute(self, context):
        try:
            arm = _source(context)
            moved = takes.move_take_files(arm, takes.results_dir())
        except (ValueError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        tasks.last_status = f"{moved} take file(s) copied to {takes.results_dir()}"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}


classes = (SCOREHMR_OT_refine_frames, SCOREHMR_OT_switch_take, SCOREHMR_OT_show_take_files, SCOREHMR_OT_move_take_files)
