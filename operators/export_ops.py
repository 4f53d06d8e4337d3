"""Export the baked rig (or the SMPL armature) through Blender's own FBX / BVH exporters."""
import os

import bpy

from ..scorehmr_blender import retarget, tasks


def _export_armature(context, name):
    settings = context.scene.scorehmr
    if name:
        return bpy.data.objects.get(name)
    return settings.target if settings.target is not None else settings.source


class SCOREHMR_OT_export(bpy.types.Operator):
    """Export the animated rig (the Bake target, else the SMPL armature) as FBX or BVH"""

    bl_idname = "scorehmr.export"
    bl_label = "Export Animation"
    bl_options = {"REGISTER"}

    filepath: bpy.props.StringProperty(subtype="FILE_PATH")
    format: bpy.props.EnumProperty(
        name="Format", items=[("FBX", "FBX", "Armature, its meshes and the Action (game engines, DCCs)"),
                              ("BVH", "BVH", "Skeleton motion only (mocap tools)")])
    target: bpy.props.StringProperty(name="Armature", description="Object name (empty: the bake target)")

    @classmethod
    def poll(cls, context):
        settings = context.scene.scorehmr
        return tasks.active() is None and context.mode == "OBJECT" and (
            settings.target is not None or settings.source is not None)

    def invoke(self, context, event):
        arm = _export_armature(context, self.target)
        self.filepath = f"{arm.name if arm else 'motion'}.{self.format.lower()}"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        arm = _export_armature(context, self.target)
        if arm is None or arm.type != "ARMATURE":
            self.report({"ERROR"}, "nothing to export: bake onto a rig or import a result first")
            return {"CANCELLED"}
        path = bpy.path.ensure_ext(bpy.path.abspath(self.filepath), "." + self.format.lower())
        try:
            first, last = retarget.keyed_range(arm)
            (_export_fbx if self.format == "FBX" else _export_bvh)(context, arm, path, first, last)
        except (ValueError, RuntimeError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        tasks.last_status = f"Exported {os.path.basename(path)} ({last - first + 1} frames)"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}


def _export_fbx(context, arm, path, first, last):
    scene = context.scene
    objects = [arm] + [child for child in arm.children if child.type == "MESH"]
    saved = (scene.frame_start, scene.frame_end)
    scene.frame_start, scene.frame_end = first, last  # the FBX exporter bakes the scene range
    try:
        with context.temp_override(selected_objects=objects, active_object=arm, object=arm):
            bpy.ops.export_scene.fbx(
                filepath=path, use_selection=True, object_types={"ARMATURE", "MESH"},
                add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
                bake_anim_use_nla_strips=False, bake_anim_force_startend_keying=True,
                bake_anim_simplify_factor=0.0, use_armature_deform_only=False)
    finally:
        scene.frame_start, scene.frame_end = saved


def _export_bvh(context, arm, path, first, last):
    with context.temp_override(active_object=arm, object=arm, selected_objects=[arm]):
        bpy.ops.export_anim.bvh(filepath=path, frame_start=first, frame_end=last,
                                rotate_mode="NATIVE", root_transform_only=True)


classes = (SCOREHMR_OT_export,)
