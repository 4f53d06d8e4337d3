"""Scene settings of the sidebar (per .blend file): inputs of import, refine and bake."""
import bpy

from ..smplcore.skeleton import JOINT_NAMES

SOURCE_TAG = "scorehmr_result"  # custom property that marks an armature built by this add-on


def is_smpl_armature(obj):
    return obj is not None and obj.type == "ARMATURE" and SOURCE_TAG in obj


def _poll_source(_self, obj):
    return is_smpl_armature(obj)


def _poll_target(self, obj):
    return obj.type == "ARMATURE" and obj != self.source


class BoneMapItem(bpy.types.PropertyGroup):
    source: bpy.props.EnumProperty(
        name="SMPL Joint", description="Joint of the SMPL armature",
        items=[(name, name, "") for name in JOINT_NAMES])
    target: bpy.props.StringProperty(name="Target Bone", description="Bone of the target rig that follows it")


class ScoreHMRSettings(bpy.types.PropertyGroup):
    video_path: bpy.props.StringProperty(
        name="Video", subtype="FILE_PATH", description="Video of one person to capture")
    source: bpy.props.PointerProperty(
        name="SMPL Armature", type=bpy.types.Object, poll=_poll_source,
        description="Armature created by Import Video / Import Result")
    refine_use_preview: bpy.props.BoolProperty(
        name="Use Preview Range", default=True,
        description="Refine the timeline's preview range when it is enabled, else the range below")
    refine_start: bpy.props.IntProperty(name="Start", default=1, min=0)
    refine_end: bpy.props.IntProperty(name="End", default=30, min=0)
    target: bpy.props.PointerProperty(
        name="Target Rig", type=bpy.types.Object, poll=_poll_target,
        description="Your character's armature; the bake writes a new Action on it")
    bone_map: bpy.props.CollectionProperty(type=BoneMapItem)
    bone_map_index: bpy.props.IntProperty()
    root_motion: bpy.props.EnumProperty(
        name="Root Motion", default="TRAVELLING",
        items=[("TRAVELLING", "Travelling", "The hips move through the scene as in the video"),
               ("IN_PLACE", "In Place", "Horizontal hip motion removed; vertical motion kept")])


_register_classes, _unregister_classes = bpy.utils.register_classes_factory((BoneMapItem, ScoreHMRSettings))


def register():
    _register_classes()
    bpy.types.Scene.scorehmr = bpy.props.PointerProperty(type=ScoreHMRSettings)


def unregister():
    del bpy.types.Scene.scorehmr
    _unregister_classes()
