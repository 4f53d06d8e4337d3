"""Bake to Armature and its bone map: auto-detect, edit, JSON presets."""
import bpy

from ..scorehmr_blender import retarget, tasks
from ..scorehmr_blender.properties import is_smpl_armature


def _map_from_settings(settings):
    return {item.source: item.target for item in settings.bone_map if item.target}


def fill_bone_map(settings, mapping):
    settings.bone_map.clear()
    for joint, bone in mapping.items():
        item = settings.bone_map.add()
        item.source, item.target = joint, bone


class SCOREHMR_OT_detect_bone_map(bpy.types.Operator):
    """Guess the bone map from the target rig's bone names (Rigify, Mixamo, SMPL)"""

    bl_idname = "scorehmr.detect_bone_map"
    bl_label = "Auto-Detect Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if context.scene.scorehmr.target is None:
            cls.poll_message_set("Choose the Target Rig first")
            return False
        return True

    def execute(self, context):
        settings = context.scene.scorehmr
        scheme, mapping = retarget.detect_bone_map(settings.target)
        if not mapping:
            self.report({"WARNING"}, "No known bone names found: fill the map by hand")
            return {"CANCELLED"}
        fill_bone_map(settings, mapping)
        self.report({"INFO"}, f"{scheme} rig: {len(mapping)} bones mapped")
        return {"FINISHED"}


class SCOREHMR_OT_bone_map_add(bpy.types.Operator):
    """Add a row to the bone map"""

    bl_idname = "scorehmr.bone_map_add"
    bl_label = "Add Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.scorehmr
        settings.bone_map.add()
        settings.bone_map_index = len(settings.bone_map) - 1
        return {"FINISHED"}


class SCOREHMR_OT_bone_map_remove(bpy.types.Operator):
    """Remove the selected row of the bone map"""

    bl_idname = "scorehmr.bone_map_remove"
    bl_label = "Remove Mapping"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return len(context.scene.scorehmr.bone_map) > 0

    def execute(self, context):
        settings = context.scene.scorehmr
        settings.bone_map.remove(settings.bone_map_index)
        settings.bone_map_index = max(0, min(settings.bone_map_index, len(settings.bone_map) - 1))
        return {"FINISHED"}


class SCOREHMR_OT_save_bone_map(bpy.types.Operator):
    """Save the bone map as a JSON preset"""

    bl_idname = "scorehmr.save_bone_map"
    bl_label = "Save Bone Map"

    filepath: bpy.props.StringProperty(subtype="FILE_PATH")
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return len(context.scene.scorehmr.bone_map) > 0

    def invoke(self, context, event):
        self.filepath = "bone_map.json"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        try:
            retarget.save_preset(bpy.path.abspath(self.filepath), _map_from_settings(context.scene.scorehmr))
        except OSError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class SCOREHMR_OT_load_bone_map(bpy.types.Operator):
    """Load a bone map JSON preset"""

    bl_idname = "scorehmr.load_bone_map"
    bl_label = "Load Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(subtype="FILE_PATH")
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        try:
            mapping = retarget.load_preset(bpy.path.abspath(self.filepath))
        except (OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        fill_bone_map(context.scene.scorehmr, mapping)
        return {"FINISHED"}


class SCOREHMR_OT_bake_to_armature(bpy.types.Operator):
    """Bake the SMPL motion onto your rig as a new Action (visual keying; helper constraints are
    removed afterwards, the SMPL armature is left as it is)"""

    bl_idname = "scorehmr.bake_to_armature"
    bl_label = "Bake to Armature"
    bl_options = {"REGISTER", "UNDO"}

    target: bpy.props.StringProperty(name="Target", description="Armature object name (empty: the sidebar's)")

    @classmethod
    def poll(cls, context):
        settings = context.scene.scorehmr
        problem = ("Another ScoreHMR task is running" if tasks.active() is not None else
                   "Works in Object mode" if context.mode != "OBJECT" else
                   "Import a video or a result first (no SMPL armature chosen)" if not is_smpl_armature(settings.source)
                   else "The SMPL armature has no Action: choose a take"
                   if not (settings.source.animation_data and settings.source.animation_data.action) else
                   "Choose the Target Rig (your character's armature)" if settings.target is None else "")
        if problem:
            cls.poll_message_set(problem)
        return not problem

    def execute(self, context):
        settings = context.scene.scorehmr
        target = bpy.data.objects.get(self.target) if self.target else settings.target
        if not is_smpl_armature(settings.source):
            self.report({"ERROR"}, "the SMPL armature was removed: import a video or a result first")
            return {"CANCELLED"}
        if target is None or target.type != "ARMATURE" or target == settings.source:
            self.report({"ERROR"}, f"choose a target armature (got {self.target or 'none'})")
            return {"CANCELLED"}
        mapping = _map_from_settings(settings) if settings.target == target else {}
        if not mapping:
            _scheme, mapping = retarget.detect_bone_map(target)
            settings.target = target
            fill_bone_map(settings, mapping)
        try:
            action = retarget.bake(context, settings.source, target, mapping, settings.root_motion)
        except (ValueError, RuntimeError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        tasks.last_status = f"Baked {action.name}"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}


classes = (SCOREHMR_OT_detect_bone_map, SCOREHMR_OT_bone_map_add, SCOREHMR_OT_bone_map_remove,
           SCOREHMR_OT_save_bone_map, SCOREHMR_OT_load_bone_map, SCOREHMR_OT_bake_to_armature)
