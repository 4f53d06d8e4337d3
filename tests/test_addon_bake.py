"""Bake to Armature onto Mixamo- and Rigify-named rigs, and FBX/BVH export round trips."""
import json

import blender_env
import bpy
import numpy as np
import pytest

from smplcore.skeleton import JOINT_NAMES

# limb segments whose direction the target must copy from the SMPL armature
SEGMENTS = [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
            ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
            ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("spine3", "neck")]
FRAMES = (1, 7, 8, 15, 40)  # 8 and 9 (video frames 7, 8) are interpolated gaps


def _setup(kind, a_pose):
    blender_env.fresh_scene()
    model_path = blender_env.body_model_path()
    path = blender_env.tmp_path("bake_result.npz")
    blender_env.write_test_result(path, model_path)
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    source = bpy.context.scene.scorehmr.source
    rig, names = blender_env.build_test_rig(kind, f"{kind} rig", model_path, a_pose=a_pose)
    bpy.context.scene.scorehmr.target = rig  # Bake is greyed out until a target rig is chosen
    return source, rig, names


def _world_head(obj, bone):
    return np.array(obj.matrix_world @ obj.pose.bones[bone].head)


def _source_snapshot(source):
    bag = sys_modules_core("anim_compat").channelbag(source, ensure=False)
    return {(fc.data_path, fc.array_index): [tuple(kp.co) for kp in fc.keyframe_points] for fc in bag.fcurves}


def sys_modules_core(name):
    import sys

    return sys.modules[f"{blender_env.ADDON_MODULE}.scorehmr_blender.{name}"]


@pytest.mark.parametrize("kind,a_pose", [("mixamo", True), ("rigify", False)])
def test_target_follows_the_smpl_armature(kind, a_pose):
    source, rig, names = _setup(kind, a_pose)
    before = _source_snapshot(source)
    source_action = source.animation_data.action
    assert bpy.ops.scorehmr.bake_to_armature(target=rig.name) == {"FINISHED"}

    mapped = {item.source: item.target for item in bpy.context.scene.scorehmr.bone_map}
    assert all(mapped[j] == names[j] for j in JOINT_NAMES if j not in ("left_hand", "right_hand"))
    assert rig.animation_data.action.name == f"{source.name} on {rig.name}"
    assert not any(pb.constraints for pb in rig.pose.bones)
    assert not any(o.name.startswith("ScoreHMR retarget") for o in bpy.data.objects)
    assert source.animation_data.action == source_action and _source_snapshot(source) == before
    assert not any(pb.constraints for pb in source.pose.bones)

    # Limb directions copied exactly: end effectors then sit where the target's own bone lengths
    # along the SMPL directions put them. 0.5 degrees is 5 mm at the end of a 0.6 m arm.
    scene = bpy.context.scene
    scale = sys_modules_core("retarget").root_scale(source, rig, mapped)
    hips_first = None
    for frame in FRAMES:
        scene.frame_set(frame)
        for a, b in SEGMENTS:
            want = _world_head(source, b) - _world_head(source, a)
            got = _world_head(rig, names[b]) - _world_head(rig, names[a])
            cos = want @ got / np.linalg.norm(want) / np.linalg.norm(got)
            assert np.degrees(np.arccos(min(1.0, cos))) < 0.5, (frame, a, b)
        hips, pelvis = _world_head(rig, names["pelvis"]), _world_head(source, "pelvis")
        if hips_first is None:
            hips_first, pelvis_first = hips, pelvis
        # travelling root: hip displacement is the SMPL pelvis displacement scaled to the rig
        np.testing.assert_allclose(hips - hips_first, scale * (pelvis - pelvis_first), atol=1e-3)


def test_in_place_root_motion_keeps_the_hips_over_their_rest_spot():
    source, rig, names = _setup("mixamo", False)
    bpy.context.scene.scorehmr.root_motion = "IN_PLACE"
    assert bpy.ops.scorehmr.bake_to_armature(target=rig.name) == {"FINISHED"}
    rest = np.array(rig.matrix_world @ rig.data.bones[names["pelvis"]].head_local)
    for frame in FRAMES:
        bpy.context.scene.frame_set(frame)
        np.testing.assert_allclose(_world_head(rig, names["pelvis"])[:2], rest[:2], atol=1e-4)


def test_bone_map_presets_round_trip(tmp_path):
    _source, rig, names = _setup("mixamo", False)
    settings = bpy.context.scene.scorehmr
    settings.target = rig
    assert bpy.ops.scorehmr.detect_bone_map() == {"FINISHED"}
    settings.bone_map[0].target = names["spine1"]  # a hand edit
    preset = tmp_path / "map.json"
    assert bpy.ops.scorehmr.save_bone_map(filepath=str(preset)) == {"FINISHED"}
    saved = json.loads(preset.read_text())["map"]
    settings.bone_map.clear()
    assert bpy.ops.scorehmr.load_bone_map(filepath=str(preset)) == {"FINISHED"}
    assert {i.source: i.target for i in settings.bone_map} == saved
    assert saved[settings.bone_map[0].source] == names["spine1"]
    (tmp_path / "bad.json").write_text('{"map": {"tail": "x"}}')
    with pytest.raises(RuntimeError, match="unknown SMPL joints"):
        bpy.ops.scorehmr.load_bone_map(filepath=str(tmp_path / "bad.json"))


@pytest.mark.parametrize("fmt", ["FBX", "BVH"])
def test_export_reimports_with_the_same_frame_count(fmt, tmp_path):
    _source, rig, _names = _setup("mixamo", False)
    assert bpy.ops.scorehmr.bake_to_armature(target=rig.name) == {"FINISHED"}
    first, last = sys_modules_core("retarget").keyed_range(rig)
    path = tmp_path / f"motion.{fmt.lower()}"
    preset = {"FBX": "UNITY", "BVH": "BVH"}[fmt]
    assert bpy.ops.scorehmr.export(filepath=str(path), preset=preset, armature="TARGET") == {"FINISHED"}
    assert path.stat().st_size > 0

    blender_env.fresh_scene()
    if fmt == "FBX":
        bpy.ops.import_scene.fbx(filepath=str(path))
    else:
        bpy.ops.import_anim.bvh(filepath=str(path), update_scene_duration=False)
    imported = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    lo, hi = sys_modules_core("retarget").keyed_range(imported)
    assert hi - lo == last - first


def _named_rig(names):
    """An armature with bones of these names (a chain; detection looks at names only)."""
    data = bpy.data.armatures.new("named")
    rig = bpy.data.objects.new("named", data)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for i, name in enumerate(names):
        bone = data.edit_bones.new(name)
        bone.head, bone.tail = (0.0, 0.0, 0.1 * i), (0.0, 0.0, 0.1 * i + 0.05)
    bpy.ops.object.mode_set(mode="OBJECT")
    return rig


BODY = ("pelvis", "spine1", "spine2", "spine3", "neck", "head", "left_collar", "left_shoulder", "left_elbow",
        "left_wrist", "left_hip", "left_knee", "left_ankle", "left_foot", "right_shoulder", "right_knee")


@pytest.mark.parametrize("scheme,expected", [
    ("UE Mannequin", {"pelvis": "pelvis", "spine1": "spine_01", "neck": "neck_01", "left_collar": "clavicle_l",
                      "left_shoulder": "upperarm_l", "left_elbow": "lowerarm_l", "left_wrist": "hand_l",
                      "left_hip": "thigh_l", "left_knee": "calf_l", "left_ankle": "foot_l", "left_foot": "ball_l",
                      "right_shoulder": "upperarm_r", "right_knee": "calf_r", "spine2": "spine_02",
                      "spine3": "spine_03", "head": "head", "left_index1": "index_01_l"}),
    ("VRM", {"pelvis": "J_Bip_C_Hips", "spine1": "J_Bip_C_Spine", "spine2": "J_Bip_C_Chest",
             "spine3": "J_Bip_C_UpperChest", "neck": "J_Bip_C_Neck", "head": "J_Bip_C_Head",
             "left_collar": "J_Bip_L_Shoulder", "left_shoulder": "J_Bip_L_UpperArm", "left_elbow": "J_Bip_L_LowerArm",
             "left_wrist": "J_Bip_L_Hand", "left_hip": "J_Bip_L_UpperLeg", "left_knee": "J_Bip_L_LowerLeg",
             "left_ankle": "J_Bip_L_Foot", "left_foot": "J_Bip_L_ToeBase", "right_shoulder": "J_Bip_R_UpperArm",
             "right_knee": "J_Bip_R_LowerLeg", "left_pinky2": "J_Bip_L_Little2"}),
    ("Auto-Rig Pro", {"pelvis": "c_root_master.x", "spine1": "c_spine_01.x", "spine2": "c_spine_02.x",
                      "spine3": "c_spine_03.x", "neck": "c_neck.x", "head": "c_head.x", "left_collar": "c_shoulder.l",
                      "left_shoulder": "c_arm_fk.l", "left_elbow": "c_forearm_fk.l", "left_wrist": "c_hand_fk.l",
                      "left_hip": "c_thigh_fk.l", "left_knee": "c_leg_fk.l", "left_ankle": "c_foot_fk.l",
                      "left_foot": "c_toes_fk.l", "right_shoulder": "c_arm_fk.r", "right_knee": "c_leg_fk.r"}),
    ("Mixamo", {"pelvis": "mixamorig:Hips", "spine1": "mixamorig:Spine", "spine2": "mixamorig:Spine1",
                "spine3": "mixamorig:Spine2", "neck": "mixamorig:Neck", "head": "mixamorig:Head",
                "left_collar": "mixamorig:LeftShoulder", "left_shoulder": "mixamorig:LeftArm",
                "left_elbow": "mixamorig:LeftForeArm", "left_wrist": "mixamorig:LeftHand",
                "left_hip": "mixamorig:LeftUpLeg", "left_knee": "mixamorig:LeftLeg", "left_ankle": "mixamorig:LeftFoot",
                "left_foot": "mixamorig:LeftToeBase", "right_shoulder": "mixamorig:RightArm",
                "right_knee": "mixamorig:RightLeg", "left_thumb1": "mixamorig:LeftHandThumb1",
                "right_index3": "mixamorig:RightHandIndex3"}),
])
def test_bone_map_schemes_are_detected_with_hands(scheme, expected):
    blender_env.fresh_scene()
    rig = _named_rig(list(expected.values()) + ["some_helper", "IK_target"])
    found_scheme, mapping = sys_modules_core("retarget").detect_bone_map(rig)
    assert found_scheme == scheme
    assert mapping == expected


def test_rigify_controls_win_over_its_deform_bones():
    blender_env.fresh_scene()
    controls = {"pelvis": "torso", "spine1": "spine_fk.001", "spine2": "spine_fk.002", "spine3": "spine_fk.003",
                "neck": "neck", "head": "head", "left_collar": "shoulder.L", "left_shoulder": "upper_arm_fk.L",
                "left_elbow": "forearm_fk.L", "left_wrist": "hand_fk.L", "left_hip": "thigh_fk.L",
                "left_knee": "shin_fk.L", "left_ankle": "foot_fk.L", "left_foot": "toe_fk.L"}
    deform = ["DEF-spine", "DEF-spine.001", "DEF-spine.002", "DEF-spine.003", "DEF-spine.004", "DEF-spine.006",
              "DEF-shoulder.L", "DEF-upper_arm.L", "DEF-forearm.L", "DEF-hand.L", "DEF-thigh.L", "DEF-shin.L",
              "DEF-foot.L", "DEF-toe.L"]
    rig = _named_rig(list(controls.values()) + deform)
    scheme, mapping = sys_modules_core("retarget").detect_bone_map(rig)
    assert scheme == "Rigify controls" and mapping == controls
