"""Sidebar panels: Import, Refine, Bake & Export. Buttons grey out through operator polls."""
import bpy

from ..scorehmr_blender import tasks
from ..scorehmr_blender.properties import is_smpl_armature


class _ScoreHMRPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "ScoreHMR"


class SCOREHMR_PT_main(_ScoreHMRPanel, bpy.types.Panel):
    bl_label = "ScoreHMR Motion Capture"

    def draw(self, context):
        layout = self.layout
        task = tasks.active()
        if task is None:
            layout.label(text=tasks.last_status or "Ready", icon="INFO")
            return
        layout.label(text=task.status, icon="TIME")
        if task.progress is not None:
            layout.progress(factor=task.progress, text=f"{task.progress:.0%}")
        layout.operator("scorehmr.cancel", icon="CANCEL")


class SCOREHMR_PT_import(_ScoreHMRPanel, bpy.types.Panel):
    bl_label = "Import"
    bl_parent_id = "SCOREHMR_PT_main"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.scorehmr
        layout.prop(settings, "video_path")
        layout.operator("scorehmr.import_video", icon="FILE_MOVIE")
        layout.operator("scorehmr.import_result", icon="IMPORT")


class SCOREHMR_PT_refine(_ScoreHMRPanel, bpy.types.Panel):
    bl_label = "Refine"
    bl_parent_id = "SCOREHMR_PT_main"

    def draw(self, context):
        layout = self.layout
        scene, settings = context.scene, context.scene.scorehmr
        layout.prop(settings, "source")
        layout.prop(settings, "refine_use_preview")
        if settings.refine_use_preview and scene.use_preview_range:
            layout.label(text=f"Preview range {scene.frame_preview_start}-{scene.frame_preview_end}")
        else:
            row = layout.row(align=True)
            row.prop(settings, "refine_start")
            row.prop(settings, "refine_end")
        layout.operator("scorehmr.refine_frames", icon="MOD_SMOOTH")
        arm = settings.source
        if is_smpl_armature(arm) and arm.animation_data:
            layout.prop(arm.animation_data, "action", text="Take")


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
        row = layout.row(align=True)
        row.operator("scorehmr.export", text="Export FBX").format = "FBX"
        row.operator("scorehmr.export", text="Export BVH").format = "BVH"


classes = (SCOREHMR_PT_main, SCOREHMR_PT_import, SCOREHMR_PT_refine, SCOREHMR_UL_bone_map, SCOREHMR_PT_bake)
