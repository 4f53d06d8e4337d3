"""Sidebar panels: status, Import, Refine, Bake & Export. Buttons grey out through operator polls
(hover tells why). draw() only reads state: the backend is polled by the modal operators' timer,
the backend probe is cached (``backend_env``)."""
import bpy

from ..scorehmr_blender import keying, preferences, takes, tasks
from ..scorehmr_blender.properties import is_smpl_armature
from ..operators.export_ops import export_armature, why_not_exportable


class _ScoreHMRPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "ScoreHMR"


class SCOREHMR_PT_main(_ScoreHMRPanel, bpy.types.Panel):
    bl_label = "ScoreHMR Motion Capture"

    def draw(self, context):
        layout = self.layout
        task = tasks.active()
        if task is not None:
            layout.label(text=task.status, icon="TIME")
            layout.progress(factor=task.progress or 0.0, text=f"{(task.progress or 0.0):.0%}")
            layout.operator("scorehmr.cancel", icon="CANCEL")
            return
        found = preferences.find_backend(preferences.get(context), cached_only=True)
        if found is None or not found.ok:
            preferences.draw_backend_state(layout.box(), preferences.get(context))
        layout.label(text=tasks.last_status or "Ready", icon="INFO")


class SCOREHMR_PT_import(_ScoreHMRPanel, bpy.types.Panel):
    bl_label = "Import"
    bl_parent_id = "SCOREHMR_PT_main"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.scorehmr
        layout.prop(settings, "video_path")
        row = layout.row(align=True)
        row.prop(settings, "import_start")
        row.prop(settings, "import_end")
        layout.prop(settings, "lens")
        layout.prop(settings, "performer_height")
        layout.prop(settings, "people")
        layout.prop(settings, "foot_lock")
        layout.prop(settings, "hands")
        layout.operator("scorehmr.import_video", icon="FILE_MOVIE")
        if len(settings.persons):
            box = layout.box()
            box.label(text="More people in the video", icon="COMMUNITY")
            for item in settings.persons:
                row = box.row(align=True)
                row.label(text=f"Person {item.person}: frames {item.first_frame + 1}-{item.last_frame + 1}")
                row.operator("scorehmr.import_person", text="Import", icon="IMPORT").person = item.person
        layout.operator("scorehmr.import_result", icon="IMPORT")


class SCOREHMR_PT_refine(_ScoreHMRPanel, bpy.types.Panel):
    bl_label = "Refine"
    bl_parent_id = "SCOREHMR_PT_main"

    def draw(self, context):
        layout = self.layout
        scene, settings = context.scene, context.scene.scorehmr
        layout.prop(settings, "source")
        layout.prop(settings, "refine_contacts")
        arm = settings.source
        if is_smpl_armature(arm):
            selected = keying.selected_key_range(arm)
            if selected is not None:
                layout.label(text=f"Selected keys: frames {selected[0]}-{selected[1]}", icon="KEYFRAME_HLT")
            elif scene.use_preview_range:
                layout.label(text=f"Preview range: frames {scene.frame_preview_start}-{scene.frame_preview_end}",
                             icon="PREVIEW_RANGE")
            else:
                layout.label(text="No keys selected: frames below", icon="INFO")
                row = layout.row(align=True)
                row.prop(settings, "refine_start")
                row.prop(settings, "refine_end")
        layout.operator("scorehmr.refine_frames", icon="MOD_SMOOTH")
        if is_smpl_armature(arm):
            layout.label(text="Takes")
            col = layout.column(align=True)
            current = takes.active_take(arm)
            for take in takes.takes_of(arm):  # this armature's takes only; click one to switch
                col.operator("scorehmr.switch_take", text=take.name, icon="ACTION",
                             depress=take == current).action = take.name
            row = layout.row(align=True)
            row.operator("scorehmr.show_take_files", icon="FILEBROWSER")
            row.operator("scorehmr.move_take_files", text="Move Next to .blend", icon="FILE_BLEND")


class SCOREHMR_UL_bone_map(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        target = context.scene.scorehmr.target
        row = layout.row(align=True)
        row.prop(item, "source", text="")
        if target is not None:
            row.prop_search(item, "target", target.data, "bones", text="")
        else:
            row.prop(item, "target", text="")


class SCOREHMR_PT_bake(_ScoreHMRPanel, bpy.types.Panel):
    bl_label = "Bake & Export"
    bl_parent_id = "SCOREHMR_PT_main"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.scorehmr
        layout.prop(settings, "target")
        row = layout.row(align=True)
        row.operator("scorehmr.detect_bone_map", icon="AUTO")
        row.operator("scorehmr.load_bone_map", text="", icon="FILEBROWSER")
        row.operator("scorehmr.save_bone_map", text="", icon="FILE_TICK")
        row = layout.row()
        row.template_list("SCOREHMR_UL_bone_map", "", settings, "bone_map", settings, "bone_map_index", rows=4)
        col = row.column(align=True)
        col.operator("scorehmr.bone_map_add", text="", icon="ADD")
        col.operator("scorehmr.bone_map_remove", text="", icon="REMOVE")
        layout.prop(settings, "root_motion")
        layout.operator("scorehmr.bake_to_armature", icon="ACTION")
        layout.label(text="Export")
        col = layout.column(align=True)
        for which, label in (("TARGET", "Baked Rig"), ("SOURCE", "SMPL Armature")):
            row = col.row(align=True)
            row.enabled = not why_not_exportable(export_armature(context, which))
            row.label(text=label)
            for preset, text in (("UNITY", "Unity"), ("UNREAL", "Unreal"), ("MIXAMO", "Mixamo"), ("BVH", "BVH")):
                op = row.operator("scorehmr.export", text=text)
                op.armature, op.preset = which, preset


classes = (SCOREHMR_PT_main, SCOREHMR_PT_import, SCOREHMR_PT_refine, SCOREHMR_UL_bone_map,
           SCOREHMR_PT_bake)
