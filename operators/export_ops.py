"""Export the SMPL armature or the baked rig through Blender's own FBX / BVH exporters, with
presets for the usual destinations."""
import os

import bpy

from ..scorehmr_blender import retarget, tasks
from ..scorehmr_blender.properties import is_smpl_armature
from .task_operator import free_in_object_mode

# FBX options per destination; everything else is the exporter's default.
_FBX_COMMON = dict(use_selection=True, object_types={"ARMATURE", "MESH"}, bake_anim=True,
                   bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                   bake_anim_force_startend_keying=True, bake_anim_simplify_factor=0.0)
FBX_PRESETS = {
    # Unity: Y up, -Z forward, units applied so the rig is 1 unit = 1 m without a 100x scale
    "UNITY": dict(axis_forward="-Z", axis_up="Y", apply_scale_options="FBX_SCALE_UNITS", add_leaf_bones=False,
                  use_armature_deform_only=False, primary_bone_axis="Y", secondary_bone_axis="X"),
    # Unreal: Z up, X forward, no leaf bones, only deforming bones (control bones confuse the skeleton)
    "UNREAL": dict(axis_forward="X", axis_up="Z", apply_scale_options="FBX_SCALE_NONE", add_leaf_bones=False,
                   use_armature_deform_only=True, primary_bone_axis="Y", secondary_bone_axis="X"),
    # Mixamo-style rigs (and tools expecting Mixamo's files): Y up, leaf bones at chain ends
    "MIXAMO": dict(axis_forward="-Z", axis_up="Y", apply_scale_options="FBX_SCALE_ALL", add_leaf_bones=True,
                   use_armature_deform_only=True, primary_bone_axis="Y", secondary_bone_axis="X"),
}
PRESET_ITEMS = [
    ("UNITY", "FBX for Unity", "Y up, -Z forward, scale applied, no leaf bones"),
    ("UNREAL", "FBX for Unreal", "Z up, X forward, deform bones only, no leaf bones"),
    ("MIXAMO", "FBX Mixamo-style", "Y up, leaf bones at chain ends, deform bones only"),
    ("BVH", "BVH", "Skeleton motion only (mocap tools)"),
]


def export_armature(context, which):
    """The armature to export: 'SOURCE' (the SMPL armature) or 'TARGET' (the bake target)."""
    settings = context.scene.scorehmr
    return settings.source if which == "SOURCE" else settings.target


def why_not_exportable(arm):
    """'' when ``arm`` can be exported, else the reason."""
    if arm is None:
        return "Choose the armature to export (no bake target / SMPL armature set)"
    if arm.type != "ARMATURE":
        return f"{arm.name} is not an armature"
    try:
        retarget.keyed_range(arm)
    except ValueError:
        return f"{arm.name} has no animation: bake onto it first" if not is_smpl_armature(arm) else \
            f"{arm.name} has no Action: choose a take"
    return ""


class SCOREHMR_OT_export(bpy.types.Operator):
    """Export the SMPL armature or the baked rig (with its meshes) as FBX or BVH"""

    bl_idname = "scorehmr.export"
    bl_label = "Export Animation"
    bl_options = {"REGISTER"}

    filepath: bpy.props.StringProperty(subtype="FILE_PATH")
    preset: bpy.props.EnumProperty(name="Preset", items=PRESET_ITEMS, default="UNITY")
    armature: bpy.props.EnumProperty(
        name="Armature", default="TARGET",
        items=[("TARGET", "Baked Rig", "The Bake target with its baked Action"),
               ("SOURCE", "SMPL Armature", "The SMPL armature and body with the active take")])

    @classmethod
    def poll(cls, context):
        if not free_in_object_mode(cls, context):
            return False
        settings = context.scene.scorehmr
        reasons = [why_not_exportable(export_armature(context, w)) for w in ("TARGET", "SOURCE")]
        if all(reasons):
            cls.poll_message_set(reasons[0] if settings.target is not None else reasons[1])
            return False
        return True

    def invoke(self, context, event):
        arm = export_armature(context, self.armature)
        ext = ".bvh" if self.preset == "BVH" else ".fbx"
        self.filepath = f"{arm.name if arm else 'motion'}{ext}"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        arm = export_armature(context, self.armature)
        problem = why_not_exportable(arm)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        ext = ".bvh" if self.preset == "BVH" else ".fbx"
        path = bpy.path.ensure_ext(bpy.path.abspath(self.filepath), ext)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            self.report({"ERROR"}, f"the folder does not exist: {folder}")
            return {"CANCELLED"}
        if not os.access(folder, os.W_OK):
            self.report({"ERROR"}, f"the folder is read-only: {folder}")
            return {"CANCELLED"}
        first, last = retarget.keyed_range(arm)
        try:
            if self.preset == "BVH":
                _export_bvh(context, arm, path, first, last)
            else:
                _export_fbx(context, arm, path, first, last, FBX_PRESETS[self.preset])
        except (RuntimeError, OSError) as exc:
            self.report({"ERROR"}, f"export to {path} failed: {str(exc).strip().splitlines()[-1]}")
            return {"CANCELLED"}
        tasks.last_status = f"Exported {os.path.basename(path)} ({last - first + 1} frames)"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}


def _export_fbx(context, arm, path, first, last, preset):
    scene = context.scene
    objects = [arm] + [child for child in arm.children if child.type == "MESH"]
    saved = (scene.frame_start, scene.frame_end)
    scene.frame_start, scene.frame_end = first, last  # the FBX exporter bakes the scene range
    try:
        with context.temp_override(selected_objects=objects, active_object=arm, object=arm):
            bpy.ops.export_scene.fbx(filepath=path, **_FBX_COMMON, **preset)
    finally:
        scene.frame_start, scene.frame_end = saved


def _export_bvh(context, arm, path, first, last):
    with context.temp_override(active_object=arm, object=arm, selected_objects=[arm]):
        bpy.ops.export_anim.bvh(filepath=path, frame_start=first, frame_end=last,
                                rotate_mode="NATIVE", root_transform_only=True)


classes = (SCOREHMR_OT_export,)
