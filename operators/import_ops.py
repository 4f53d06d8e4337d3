"""Import Video (runs the backend) and Import Result (reads a result file)."""
import os

import bpy

from ..scorehmr_blender import importer, jobs, preferences, tasks
from .task_operator import TaskOperator, free_in_object_mode


def _body_model_path(context):
    path = preferences.get(context).body_model_path
    return bpy.path.abspath(path) if path else ""


def _report_import(operator, arm, result_path):
    gaps = int(arm.get("scorehmr_gaps", 0))
    note = f"; {gaps} stretch(es) without the person marked '{importer.MISSING_MARKER}'" if gaps else ""
    tasks.last_status = f"Imported {arm.name} from {os.path.basename(result_path)}{note}"
    operator.report({"INFO"}, tasks.last_status)
    if arm.get(importer.MODEL_MISMATCH):
        tasks.last_status = f"Imported {arm.name}, but {arm[importer.MODEL_MISMATCH]}"
        operator.report({"WARNING"}, tasks.last_status)
    if arm.get(importer.WORLD_NOTE):  # e.g. a moving camera: no floor, the camera frame kept
        tasks.last_status = f"Imported {arm.name} without a floor: {arm[importer.WORLD_NOTE]}"
        operator.report({"WARNING"}, tasks.last_status)


def _import_file(operator, context, result_path, video, name_suffix=""):
    """Import Result / Import Person: a result file into the scene, a failure reported on the operator."""
    try:
        arm = importer.import_result(context, result_path, video, _body_model_path(context))
    except (ValueError, OSError, RuntimeError) as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    if name_suffix:
        arm.name += name_suffix
    _report_import(operator, arm, result_path)
    return {"FINISHED"}


class SCOREHMR_OT_import_video(TaskOperator, bpy.types.Operator):
    """Capture the motion of the person in a video: run the backend, then build the clip, camera,
    SMPL armature, body mesh and a new Action"""

    bl_idname = "scorehmr.import_video"
    bl_label = "Import Video"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(
        name="Video", subtype="FILE_PATH", description="Video file (empty: the sidebar's Video field)")

    @classmethod
    def poll(cls, context):
        return free_in_object_mode(cls, context)

    def start_task(self, context):
        settings = context.scene.scorehmr
        self._video = bpy.path.abspath(self.filepath or settings.video_path)
        if not self._video:
            raise ValueError("choose a video first")
        if not os.path.isfile(self._video):
            raise ValueError(f"video not found: {self._video}")
        if settings.import_end and settings.import_end < max(settings.import_start, 1):
            raise ValueError(f"Last Frame {settings.import_end} is before First Frame {settings.import_start}")
        start = settings.import_start - 1 if settings.import_start else None  # video frames count from 0
        end = settings.import_end - 1 if settings.import_end else None
        focal = None
        if settings.lens:
            width, height = importer.video_size(self._video)
            focal = importer.lens_to_focal_px(settings.lens, width, height)
        person = "all" if settings.people == "ALL" else None
        return jobs.start_import(context, self._video, start=start, end=end, focal=focal, person=person)

    def finish_task(self, context, task):
        others = importer.read_persons_index(task.job.result_index) if task.job.result_index else []
        arm = importer.import_result(context, task.job.result_path, self._video, _body_model_path(context))
        persons = context.scene.scorehmr.persons
        persons.clear()
        for found in others:
            item = persons.add()
            item.person, item.result, item.video = found["person"], found["file"], self._video
            item.first_frame, item.last_frame, item.frames = found["first_frame"], found["last_frame"], found["frames"]
        _report_import(self, arm, task.job.result_path)
        if others:
            self.report({"INFO"}, f"{len(others)} more person(s) found: import them from the People list")
        return {"FINISHED"}


class SCOREHMR_OT_import_person(bpy.types.Operator):
    """Import a further person of the last Import Video (People: Everyone) as its own armature"""

    bl_idname = "scorehmr.import_person"
    bl_label = "Import Person"
    bl_options = {"REGISTER", "UNDO"}

    person: bpy.props.IntProperty(name="Person", description="Number in the People list")

    def execute(self, context):
        item = next((p for p in context.scene.scorehmr.persons if p.person == self.person), None)
        if item is None:
            self.report({"ERROR"}, f"no person {self.person} in the People list")
            return {"CANCELLED"}
        video = item.video if item.video and os.path.isfile(item.video) else ""
        return _import_file(self, context, item.result, video, name_suffix=f" person {item.person}")


class SCOREHMR_OT_import_result(bpy.types.Operator):
    """Import a ScoreHMR result file (.npz) without running the backend"""

    bl_idname = "scorehmr.import_result"
    bl_label = "Import Result"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Result", subtype="FILE_PATH")
    filter_glob: bpy.props.StringProperty(default="*.npz", options={"HIDDEN"})
    video_path: bpy.props.StringProperty(
        name="Video", subtype="FILE_PATH", description="Optional source video shown behind the camera")

    @classmethod
    def poll(cls, context):
        if context.mode != "OBJECT":
            cls.poll_message_set("Works in Object mode")
            return False
        return True

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        path = bpy.path.abspath(self.filepath)
        video = bpy.path.abspath(self.video_path) if self.video_path else ""
        return _import_file(self, context, path, video)


classes = (SCOREHMR_OT_import_video, SCOREHMR_OT_import_person, SCOREHMR_OT_import_result)
