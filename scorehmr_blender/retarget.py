"""Transfer the SMPL armature's motion onto a user's rig.

How: one helper empty per mapped bone, parented to the SMPL bone and placed at rest with the
target bone's rest orientation (turned onto SMPL's T-pose direction, so A-pose rigs work); the
target bone copies the empty's world rotation. A root empty carries the hip position, scaled by
the leg-length ratio: its travel from the first frame, and on a floor (a result placed in its
world) its height above the floor, so that a rig standing on the floor in its rest pose keeps its
feet on it. The target is baked with visual keying into a new Action, then the helper
constraints and empties are removed. The SMPL armature is not modified.
"""
import json

import bpy
import numpy as np
from mathutils import Matrix

from ..smplcore.rotations import shortest_arc
from ..smplcore.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS, children
from . import anim_compat

HELPER_PREFIX = "ScoreHMR retarget"
# custom property of an SMPL armature placed on its floor (importer): its rest hips' height above
# its soles, metres: the hips stand that high when the body stands straight on the floor
STANDING_HIPS = "scorehmr_standing_hips"

_SIDES = ("left", "right")
_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
# Joints a bone map may name: SMPL's 24 and the SMPL-H finger joints (``left_index1``...); Bake
# transfers the joints the SMPL armature has bones for.
MAP_JOINTS = JOINT_NAMES + tuple(f"{side}_{finger}{k}" for side in _SIDES for finger in _FINGERS for k in (1, 2, 3))
# each joint's parent in MAP_JOINTS (a finger's first joint hangs on its wrist)
MAP_PARENTS = PARENTS + tuple(MAP_JOINTS.index(f"{name.split('_')[0]}_wrist" if name.endswith("1") else name[:-1] + str(int(name[-1]) - 1))
                              for name in MAP_JOINTS[len(JOINT_NAMES):])

# SMPL joint -> bone name per naming scheme. In joint names {side} is left/right; in bone names
# {S}/{s} are the scheme's side tokens, {F}/{f} the finger (capitalised / lower case), {k} 1-3.
_MIXAMO = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
    "head": "Head", "{side}_collar": "{S}Shoulder", "{side}_shoulder": "{S}Arm",
    "{side}_elbow": "{S}ForeArm", "{side}_wrist": "{S}Hand", "{side}_hip": "{S}UpLeg",
    "{side}_knee": "{S}Leg", "{side}_ankle": "{S}Foot", "{side}_foot": "{S}ToeBase",
    "{side}_{finger}{k}": "{S}Hand{F}{k}",
}
_RIGIFY_DEFORM = {  # generated DEF-/ORG- bones and the metarig
    "pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003",
    "neck": "spine.004", "head": "spine.006", "{side}_collar": "shoulder.{s}",
    "{side}_shoulder": "upper_arm.{s}", "{side}_elbow": "forearm.{s}", "{side}_wrist": "hand.{s}",
    "{side}_hip": "thigh.{s}", "{side}_knee": "shin.{s}", "{side}_ankle": "foot.{s}",
    "{side}_foot": "toe.{s}", "{side}_{finger}{k}": "{rigify_finger}.0{k}.{s}",
}
_RIGIFY_CONTROLS = {  # what animators key on a generated Rigify rig (FK controls)
    "pelvis": "torso", "spine1": "spine_fk.001", "spine2": "spine_fk.002", "spine3": "spine_fk.003",
    "neck": "neck", "head": "head", "{side}_collar": "shoulder.{s}", "{side}_shoulder": "upper_arm_fk.{s}",
    "{side}_elbow": "forearm_fk.{s}", "{side}_wrist": "hand_fk.{s}", "{side}_hip": "thigh_fk.{s}",
    "{side}_knee": "shin_fk.{s}", "{side}_ankle": "foot_fk.{s}", "{side}_foot": "toe_fk.{s}",
    "{side}_{finger}{k}": "{rigify_finger}.0{k}.{s}",
}
_AUTO_RIG_PRO = {  # Auto-Rig Pro FK controls (names from its documentation, not checked on a rig here)
    "pelvis": "c_root_master.x", "spine1": "c_spine_01.x", "spine2": "c_spine_02.x", "spine3": "c_spine_03.x",
    "neck": "c_neck.x", "head": "c_head.x", "{side}_collar": "c_shoulder.{s}", "{side}_shoulder": "c_arm_fk.{s}",
    "{side}_elbow": "c_forearm_fk.{s}", "{side}_wrist": "c_hand_fk.{s}", "{side}_hip": "c_thigh_fk.{s}",
    "{side}_knee": "c_leg_fk.{s}", "{side}_ankle": "c_foot_fk.{s}", "{side}_foot": "c_toes_fk.{s}",
    "{side}_{finger}{k}": "c_{f}{k}.{s}",
}
_UE_MANNEQUIN = {
    "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03", "neck": "neck_01",
    "head": "head", "{side}_collar": "clavicle_{s}", "{side}_shoulder": "upperarm_{s}", "{side}_elbow": "lowerarm_{s}",
    "{side}_wrist": "hand_{s}", "{side}_hip": "thigh_{s}", "{side}_knee": "calf_{s}", "{side}_ankle": "foot_{s}",
    "{side}_foot": "ball_{s}", "{side}_{finger}{k}": "{f}_0{k}_{s}",
}
_VRM = {  # VRoid Studio's VRM bone names
    "pelvis": "J_Bip_C_Hips", "spine1": "J_Bip_C_Spine", "spine2": "J_Bip_C_Chest", "spine3": "J_Bip_C_UpperChest",
    "neck": "J_Bip_C_Neck", "head": "J_Bip_C_Head", "{side}_collar": "J_Bip_{S}_Shoulder",
    "{side}_shoulder": "J_Bip_{S}_UpperArm", "{side}_elbow": "J_Bip_{S}_LowerArm", "{side}_wrist": "J_Bip_{S}_Hand",
    "{side}_hip": "J_Bip_{S}_UpperLeg", "{side}_knee": "J_Bip_{S}_LowerLeg", "{side}_ankle": "J_Bip_{S}_Foot",
    "{side}_foot": "J_Bip_{S}_ToeBase", "{side}_{finger}{k}": "J_Bip_{S}_{vrm_finger}{k}",
}
_RIGIFY_FINGERS = {"thumb": "thumb", "index": "f_index", "middle": "f_middle", "ring": "f_ring", "pinky": "f_pinky"}
_VRM_FINGERS = {"thumb": "Thumb", "index": "Index", "middle": "Middle", "ring": "Ring", "pinky": "Little"}


def _expand(table, prefix, side_tokens):
    out = {}
    for joint, bone in table.items():
        sides = _SIDES if "{side}" in joint else ("",)
        fingers = _FINGERS if "{finger}" in joint else ("",)
        for side in sides:
            upper, lower = side_tokens[side] if side else ("", "")
            for finger in fingers:
                for k in ((1, 2, 3) if finger else ("",)):
                    names = dict(side=side, finger=finger, k=k, S=upper, s=lower, F=finger.capitalize(), f=finger,
                                 rigify_finger=_RIGIFY_FINGERS.get(finger, ""), vrm_finger=_VRM_FINGERS.get(finger, ""))
                    out[joint.format(**names)] = prefix + bone.format(**names)
    return out


def candidate_maps(bone_names):
    """Named bone maps worth trying on a rig, best first where two find as many bones: Mixamo
    (any ``mixamorigN:`` prefix), Rigify controls, Rigify DEF-/ORG- bones or a metarig, Auto-Rig
    Pro, UE Mannequin, VRM (VRoid), SMPL names."""
    maps = {}
    hips = [n for n in bone_names if n.endswith("Hips") and not n.startswith("J_Bip")]
    for name in hips[:1]:
        maps["Mixamo"] = _expand(_MIXAMO, name[: -len("Hips")], {"left": ("Left", ""), "right": ("Right", "")})
    dot_sides = {"left": ("", "L"), "right": ("", "R")}
    maps["Rigify controls"] = _expand(_RIGIFY_CONTROLS, "", dot_sides)
    for prefix in ("DEF-", "ORG-", ""):
        maps[f"Rigify {prefix or 'metarig'}".strip()] = _expand(_RIGIFY_DEFORM, prefix, dot_sides)
    maps["Auto-Rig Pro"] = _expand(_AUTO_RIG_PRO, "", {"left": ("", "l"), "right": ("", "r")})
    maps["UE Mannequin"] = _expand(_UE_MANNEQUIN, "", {"left": ("", "l"), "right": ("", "r")})
    maps["VRM"] = _expand(_VRM, "", {"left": ("L", ""), "right": ("R", "")})
    maps["SMPL"] = {name: name for name in MAP_JOINTS}
    return maps


def detect_bone_map(target):
    """(scheme name, {smpl joint: target bone}) with the most body bones present on the target
    (fingers break ties only, so a scheme never wins on finger names alone)."""
    names = set(target.data.bones.keys())
    best_name, best, best_score = "", {}, (0, 0)
    for scheme, mapping in candidate_maps(names).items():
        found = {j: b for j, b in mapping.items() if b in names}
        score = (sum(j in JOINT_INDEX for j in found), len(found))
        if score > best_score:
            best_name, best, best_score = scheme, found, score
    return best_name, best


def save_preset(path, mapping):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"format": "scorehmr-bone-map", "version": 1, "map": mapping}, fh, indent=2)


def load_preset(path):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    mapping = data.get("map") if isinstance(data, dict) else None
    if not isinstance(mapping, dict):
        raise ValueError(f"{path} is not a bone-map preset (no 'map' object)")
    unknown = [j for j in mapping if j not in MAP_JOINTS]
    if unknown:
        raise ValueError(f"{path}: unknown SMPL joints {', '.join(unknown)}")
    return {str(j): str(b) for j, b in mapping.items()}


def _world_rest(obj, bone_name):
    return obj.matrix_world @ obj.data.bones[bone_name].matrix_local


def _main_child(j):
    kids = children(MAP_PARENTS)[j]
    return {0: 3, 9: 12}.get(j, kids[0] if kids else None)


def rest_alignment(source, target, mapping):
    """Per mapped joint, the rotation that turns the target bone's rest direction onto SMPL's
    (T vs A pose); bones without a mapped child inherit their mapped ancestor's."""
    aligned = {}
    for j, name in enumerate(MAP_JOINTS):  # parents come first
        ancestor = MAP_PARENTS[j]
        while ancestor >= 0 and MAP_JOINTS[ancestor] not in mapping:
            ancestor = MAP_PARENTS[ancestor]
        inherited = aligned.get(MAP_JOINTS[ancestor], np.eye(3)) if ancestor >= 0 else np.eye(3)
        if name not in mapping:
            continue
        child = _main_child(j)
        if child is None or MAP_JOINTS[child] not in mapping:
            aligned[name] = inherited
            continue
        src = np.array(_world_rest(source, MAP_JOINTS[child]).translation - _world_rest(source, name).translation)
        tgt = np.array(_world_rest(target, mapping[MAP_JOINTS[child]]).translation
                       - _world_rest(target, mapping[name]).translation)
        aligned[name] = shortest_arc(tgt, src)
    return aligned


def _leg_length(obj, hip, knee, ankle):
    heads = [np.array(_world_rest(obj, b).translation) for b in (hip, knee, ankle)]
    return np.linalg.norm(heads[1] - heads[0]) + np.linalg.norm(heads[2] - heads[1])


def root_scale(source, target, mapping):
    """Target/SMPL leg length: hip travel is scaled by it so feet do not slide."""
    legs = ("left_hip", "left_knee", "left_ankle")
    if not all(j in mapping for j in legs):
        return 1.0
    return _leg_length(target, *(mapping[j] for j in legs)) / _leg_length(source, *legs)


def keyed_range(obj):
    bag = anim_compat.channelbag(obj, ensure=False)
    if bag is None or not len(bag.fcurves):
        raise ValueError(f"{obj.name} has no animation to bake")
    first, last = zip(*(fc.range() for fc in bag.fcurves))
    return int(np.floor(min(first))), int(np.ceil(max(last)))


def bake(context, source, target, mapping, root_motion="TRAVELLING"):
    """Bake ``source``'s motion onto ``target`` into a new Action; returns it."""
    # the joints the SMPL armature has: fingers only when it was imported with hands
    mapping = {j: b for j, b in mapping.items() if j in MAP_JOINTS and j in source.data.bones
               and b in target.data.bones}
    if "pelvis" not in mapping:
        raise ValueError("the bone map must map 'pelvis' (the hips) to a target bone")
    scene = context.scene
    first, last = keyed_range(source)
    helpers = []
    saved_frame = scene.frame_current
    saved_pose_position = source.data.pose_position
    previous = target.animation_data.action if target.animation_data else None
    try:
        _place_rotation_helpers(context, source, target, mapping, helpers)
        _add_root_helper(context, source, target, mapping, root_motion, first, last, helpers)
        if previous is not None:
            previous.use_fake_user = True  # the user's own Action stays in the file
        action = anim_compat.bake_pose(target, first, last)
        action.name = f"{source.name} on {target.name}"
    finally:
        _remove_helper_constraints(target)
        for helper in reversed(helpers):
            if helper.animation_data and helper.animation_data.action:
                bpy.data.actions.remove(helper.animation_data.action)
            bpy.data.objects.remove(helper)
        source.data.pose_position = saved_pose_position
        scene.frame_set(saved_frame)
    return action


def _remove_helper_constraints(target):
    # by name: baking rebuilds the pose, so references kept from before are stale
    for pose_bone in target.pose.bones:
        for constraint in list(pose_bone.constraints):
            if constraint.name.startswith(HELPER_PREFIX):
                pose_bone.constraints.remove(constraint)


def _new_empty(context, name, helpers):
    empty = bpy.data.objects.new(name, None)
    context.scene.collection.objects.link(empty)
    helpers.append(empty)
    return empty


def _place_rotation_helpers(context, source, target, mapping, helpers):
    # helpers are placed with the SMPL armature at rest, so their parent offset is the rest offset
    source.data.pose_position = "REST"
    context.view_layer.update()
    aligned = rest_alignment(source, target, mapping)
    for joint, bone in mapping.items():
        empty = _new_empty(context, f"{HELPER_PREFIX} {joint}", helpers)
        empty.parent = source
        empty.parent_type = "BONE"
        empty.parent_bone = joint
        context.view_layer.update()
        rest = _world_rest(target, bone)
        rotation = Matrix(aligned[joint].tolist()) @ rest.to_3x3().normalized()
        empty.matrix_world = Matrix.LocRotScale(rest.translation, rotation, None)
        constraint = target.pose.bones[bone].constraints.new("COPY_ROTATION")
        constraint.name = f"{HELPER_PREFIX} rotation"
        constraint.target = empty
        constraint.owner_space = constraint.target_space = "WORLD"
    source.data.pose_position = "POSE"
    context.view_layer.update()


def _add_root_helper(context, source, target, mapping, root_motion, first, last, helpers):
    """An empty keyed at the scaled SMPL pelvis position; the target hips copy its location.
    The travel is counted from the first frame. The height too, in the camera frame; on a floor
    it is counted from the hips' standing height, which the target's rest hips stand for (counted
    from the first frame, a walk that starts with bent knees left the rig 7 cm above the floor
    throughout)."""
    scene = context.scene
    scale = root_scale(source, target, mapping)
    hips_rest = np.array(_world_rest(target, mapping["pelvis"]).translation)
    frames = np.arange(first, last + 1)
    pelvis = np.empty((len(frames), 3))
    for i, frame in enumerate(frames):
        scene.frame_set(int(frame))
        pelvis[i] = np.array(source.matrix_world @ source.pose.bones["pelvis"].head)
    offset = scale * (pelvis - pelvis[0])
    standing = source.get(STANDING_HIPS)
    if standing is not None:
        offset[:, 2] = scale * (pelvis[:, 2] - standing)
    if root_motion == "IN_PLACE":
        offset[:, :2] = 0.0  # Blender is Z-up: keep only the vertical motion
    positions = hips_rest + offset
    empty = _new_empty(context, f"{HELPER_PREFIX} root", helpers)
    anim_compat.assign_new_action(empty, f"{HELPER_PREFIX} root")
    bag = anim_compat.channelbag(empty)
    for axis in range(3):
        fcurve = anim_compat.ensure_fcurve(bag, "location", axis, "Object Transforms")
        anim_compat.set_keys(fcurve, frames, positions[:, axis])
    bone = target.pose.bones[mapping["pelvis"]]
    constraint = bone.constraints.new("COPY_LOCATION")
    constraint.name = f"{HELPER_PREFIX} location"
    constraint.target = empty
    constraint.owner_space = constraint.target_space = "WORLD"
