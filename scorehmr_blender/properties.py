"""Scene settings of the sidebar (per .blend file): inputs of import, refine and bake."""
import bpy

from .retarget import MAP_JOINTS

SOURCE_TAG = "scorehmr_result"  # custom property that marks an armature built by this add-on

def is_smpl_armature(obj):
    return obj is not None and obj.type == "ARMATURE" and SOURCE_TAG in obj

def _poll_source(_self, obj):
    return is_smpl_armature(obj)

def _poll_target(self, obj):
    return obj.type == "ARMATURE" and obj != self.source

def _picker_filter(poll):
    """``poll=`` of an Object pointer, left out on Blender before 4.4: there any Python callback of a
    property (poll, update, get/set) crashes the bpy module at exit (SIGSEGV), even once
    unregistered, so this add-on declares no other callbacks at all. The operators check what was
    picked anyway."""
    return {"poll": poll} if bpy.app.version >= (4, 4, 0) else {}

class BoneMapItem(bpy.types.PropertyGroup):
    source: bpy.props.EnumProperty(
        name="SMPL Joint", description="Joint of the SMPL armature",
        items=[(name, name, "") for name in MAP_JOINTS])
    target: bpy.props.StringProperty(name="Target Bone", description="Bone of the target rig that follows it")

class PersonItem(bpy.types.PropertyGroup):
    """A further person of the last Import Video with People = Everyone (its own result file)."""
    person: bpy.props.IntProperty(name="Person")
    result: bpy.props.StringProperty(name="Result File", subtype="FILE_PATH")
    video: bpy.props.StringProperty(name="Video", subtype="FILE_PATH")
    first_frame: bpy.props.IntProperty(name="First Frame")
    last_frame: bpy.props.IntProperty(name="Last Frame")
    frames: bpy.props.IntProperty(name="Frames Seen")


class ScoreHMRSettings(bpy.types.PropertyGroup):
    video_path: bpy.props.StringProperty(
        name="Video", subtype="FILE_PATH", description="Video of one person to capture")
    import_start: bpy.props.IntProperty(
        name="First Frame", default=0, min=0, description="First video frame to capture (1 = the first; 0: from the start)")
    import_end: bpy.props.IntProperty(
        name="Last Frame", default=0, min=0, description="Last video frame to capture (0: to the end)")
    people: bpy.props.EnumProperty(
        name="People", default="MAIN",
        items=[("MAIN", "Main Person", "Capture the person seen most"),
               ("ALL", "Everyone", "Capture the main person and list the others: each can be imported as its own armature")])
    persons: bpy.props.CollectionProperty(type=PersonItem)
    lens: bpy.props.FloatProperty(
        name="Lens (mm)", default=0.0, min=0.0, max=1000.0, precision=1,
        description="Focal length of the video camera as 35 mm equivalent (0: assume a 55 degree field of view)")
    performer_height: bpy.props.FloatProperty(
        name="Performer Height", default=0.0, min=0.0, max=2.6, subtype="DISTANCE", unit="LENGTH", precision=2,
        description="Height of the person filmed (0: estimate it). A known height gives the right body size, "
                    "so the right distance from the camera and the right length of every step")
    foot_lock: bpy.props.EnumProperty(
        name="Foot Lock", default="auto",
        description="Planted feet on the floor (static camera only; a moving camera keeps the camera frame)",
        items=[("auto", "Auto", "Feet that are low and slow are planted: they stay put on the floor"),
               ("always", "Always", "Every foot near the floor is planted"),
               ("never", "Never", "No foot locking (the floor is still found)")])

    source: bpy.props.PointerProperty(
        name="SMPL Armature", type=bpy.types.Object, **_picker_filter(_poll_source),
        description="Armature created by Import Video / Import Result")
    refine_contacts: bpy.props.EnumProperty(
        name="Contacts", default="auto",
        description="Foot contacts in the refined range (results with a floor)",
        items=[("auto", "Auto", "Judged as in the import"),
               ("force", "Force", "The lower foot is planted on every frame of the range"),
               ("free", "Free", "No foot is planted in the range (jumps, slides)")])
    refine_start: bpy.props.IntProperty(
        name="Start", default=1, min=0, description="Used when no keyframe is selected and no preview range is set")
    refine_end: bpy.props.IntProperty(
        name="End", default=30, min=0, description="Used when no keyframe is selected and no preview range is set")
    target: bpy.props.PointerProperty(
        name="Target Rig", type=bpy.types.Object, **_picker_filter(_poll_target),
        description="Your character's armature; the bake writes a new Action on it")
    bone_map: bpy.props.CollectionProperty(type=BoneMapItem)
    bone_map_index: bpy.props.IntProperty()
    hands: bpy.props.BoolProperty(
        name="Hands", default=False,
        description="Capture the fingers with Import Video (slower), and build and key finger bones when a "
                    "result has hands; off: body only")
    root_motion: bpy.props.EnumProperty(
        name="Root Motion", default="TRAVELLING",
        items=[("TRAVELLING", "Travelling", "The hips move through the scene as in the video"),
               ("IN_PLACE", "In Place", "Horizontal hip motion removed; vertical motion kept")])

_register_classes, _unregister_classes = bpy.utils.register_classes_factory((BoneMapItem, PersonItem, ScoreHMRSettings))

def register():
    _register_classes()
    bpy.types.Scene.scorehmr = bpy.props.PointerProperty(type=ScoreHMRSettings)

def unregister():
    del bpy.types.Scene.scorehmr
    _unregister_classes()
