"""Hands in the add-on: a result with hand_poses gets keyed finger bones; without, as before."""
import sys

import blender_env
import bpy
import numpy as np
import pytest

from smplcore import axes, rotations
from smplcore.body_model_file import default_smplh_model_path, load_body_model_file
from smplcore.result import MotionResult
from smplcore.skeleton import HAND_JOINT_NAMES, NUM_BODY_JOINTS_SMPLH, PARENTS, SMPLH_JOINT_NAMES, SMPLH_PARENTS

FINGERS = SMPLH_JOINT_NAMES[NUM_BODY_JOINTS_SMPLH:]
NO_LEFT_HAND = (3, 4, 5)   # frames where the left hand was not seen


def _core(name):
    return sys.modules[f"{blender_env.ADDON_MODULE}.scorehmr_blender.{name}"]


def _result_with_hands(path):
    """The add-on tests' walk, with fingers curling and opening (index and thumb the most)."""
    result = blender_env.write_test_result(path, blender_env.body_model_path())
    t = result.num_frames
    curl = 0.6 + 0.5 * np.sin(np.linspace(0, 2 * np.pi, t))
    hands = np.zeros((t, 2, 15, 3))
    for h, sign in ((0, -1.0), (1, 1.0)):                  # flexion: -z for the left hand, +z right
        hands[:, h, :12, 2] = sign * curl[:, None]          # index, middle, pinky, ring
        hands[:, h, 12:, 1] = 0.4 * curl[:, None]           # thumb
    valid = np.ones((t, 2), bool)
    valid[list(NO_LEFT_HAND), 0] = False
    hands[~valid] = 0.0
    result.hand_poses, result.hand_valid = hands.reshape(t, 90), valid
    result.save(path)
    return MotionResult.load(path)


@pytest.fixture()
def imported_hands():
    blender_env.fresh_scene()
    path = blender_env.tmp_path("walk_hands.npz")
    result = _result_with_hands(path)
    bpy.context.scene.scorehmr.hands = True
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    return bpy.context.scene.scorehmr.source, result


def test_finger_bones_are_keyed_where_the_hand_was_seen(imported_hands):
    arm, result = imported_hands
    bones = arm.data.bones
    for name, parent in zip(FINGERS, SMPLH_PARENTS[NUM_BODY_JOINTS_SMPLH:]):
        assert bones[name].parent.name == SMPLH_JOINT_NAMES[parent]
    bag = _core("anim_compat").channelbag(arm, ensure=False)
    for side, h in (("left", 0), ("right", 1)):
        fcurve = bag.fcurves.find(f'pose.bones["{side}_index2"].rotation_quaternion', index=0)
        keys = np.array([kp.co[0] for kp in fcurve.keyframe_points])
        np.testing.assert_array_equal(keys, result.frame_index[result.hand_valid[:, h]] + 1)
    mesh = next(o for o in arm.children if o.type == "MESH")
    assert {g.name for g in mesh.vertex_groups} >= set(FINGERS)  # the fingers deform the skin


def test_finger_joints_follow_smplh_forward_kinematics(imported_hands):
    """Every finger bone head where SMPL-H's kinematics put that joint (body from the body
    model's joints, fingers from the SMPL-H model's), within 1 mm."""
    arm, result = imported_hands
    body = _core("body")
    smpl = body.load_body_model(blender_env.body_model_path())
    smplh = load_body_model_file(default_smplh_model_path(), tree="smplh")
    rest = np.concatenate([smpl.rest_joints(result.betas)[:NUM_BODY_JOINTS_SMPLH],
                           smplh.rest_joints(result.betas)[NUM_BODY_JOINTS_SMPLH:]])
    assert SMPLH_PARENTS[:NUM_BODY_JOINTS_SMPLH] == PARENTS[:NUM_BODY_JOINTS_SMPLH]
    scene = bpy.context.scene
    for i in (0, 4, 20, result.num_frames - 1):
        local = rotations.axis_angle_to_matrix(np.concatenate(
            [result.poses[i].reshape(24, 3)[:NUM_BODY_JOINTS_SMPLH], result.hand_poses[i].reshape(30, 3)]))
        glob, pos = body.forward_kinematics(rest, local, SMPLH_PARENTS)
        camera = pos + result.trans[i]          # the root turns about its rest place, then moves
        expected = axes.opencv_points_to_blender(camera[NUM_BODY_JOINTS_SMPLH:])
        scene.frame_set(int(result.frame_index[i]) + 1)
        got = np.array([arm.matrix_world @ arm.pose.bones[name].head for name in FINGERS])
        if not result.hand_valid[i, 0]:   # an unseen hand is interpolated, not checked
            got, expected = got[15:], expected[15:]
        assert np.abs(got - expected).max() < 0.001, f"frame {i}: {np.abs(got - expected).max() * 1000:.2f} mm"


def test_hands_setting_off_and_results_without_hands_import_as_before():
    blender_env.fresh_scene()
    path = blender_env.tmp_path("walk_hands.npz")
    _result_with_hands(path)
    bpy.context.scene.scorehmr.hands = False
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    assert not any(name in bpy.context.scene.scorehmr.source.data.bones for name in FINGERS)
    plain = blender_env.tmp_path("walk_plain.npz")
    blender_env.write_test_result(plain, blender_env.body_model_path())
    bpy.context.scene.scorehmr.hands = True
    assert bpy.ops.scorehmr.import_result(filepath=plain) == {"FINISHED"}
    arm = bpy.context.scene.scorehmr.source
    assert len(arm.data.bones) == 24 and not any(name in arm.data.bones for name in FINGERS)


def _add_fingers(rig, kind, scale):
    """Give a test rig five three-bone fingers per hand, named as Mixamo or Rigify name them,
    placed from the SMPL-H model's finger joints (scaled like the rig, own rolls)."""
    from mathutils import Vector

    retarget = _core("retarget")
    table = retarget.candidate_maps(["mixamorig:Hips"])["Mixamo" if kind == "mixamo" else "Rigify DEF-"]
    smplh = load_body_model_file(default_smplh_model_path(), tree="smplh")
    joints = axes.smpl_points_to_blender(smplh.rest_joints())
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    bones = rig.data.edit_bones
    for side in ("left", "right"):
        wrist = bones[table[f"{side}_wrist"]]
        wrist_rest = joints[SMPLH_JOINT_NAMES.index(f"{side}_wrist")]
        for stale in [b for b in bones if b.parent == wrist]:
            bones.remove(stale)           # the rig's single 'hand' bone
        for f in range(5):
            names = [f"{side}_{HAND_JOINT_NAMES[3 * f + k]}" for k in range(3)]
            heads = [np.array(wrist.head) + scale * (joints[SMPLH_JOINT_NAMES.index(n)] - wrist_rest) for n in names]
            heads.append(heads[2] + 0.8 * (heads[2] - heads[1]))
            parent = wrist
            for k, name in enumerate(names):
                bone = bones.new(table[name])
                bone.head, bone.tail, bone.roll = Vector(heads[k]), Vector(heads[k + 1]), 0.4 * k + 0.1 * f
                bone.parent, bone.use_connect = parent, k > 0
                parent = bone
    bpy.ops.object.mode_set(mode="OBJECT")
    return table


@pytest.mark.parametrize("kind", ["mixamo", "rigify"])
def test_bake_moves_the_rig_fingers_like_the_smpl_fingers(kind):
    blender_env.fresh_scene()
    path = blender_env.tmp_path("bake_hands.npz")
    _result_with_hands(path)
    bpy.context.scene.scorehmr.hands = True
    assert bpy.ops.scorehmr.import_result(filepath=path) == {"FINISHED"}
    source = bpy.context.scene.scorehmr.source
    scale = 1.15
    rig, _ = blender_env.build_test_rig(kind, f"{kind} rig", blender_env.body_model_path(), scale=scale)
    table = _add_fingers(rig, kind, scale)
    bpy.context.scene.scorehmr.target = rig  # Bake is greyed out until a target rig is chosen
    assert bpy.ops.scorehmr.bake_to_armature(target=rig.name) == {"FINISHED"}
    mapped = {item.source: item.target for item in bpy.context.scene.scorehmr.bone_map}
    assert all(mapped[j] == table[j] for j in FINGERS)          # auto-detected finger names
    scene = bpy.context.scene
    # The rig's hand has its own proportions (betas 0, scaled), so what must carry over are the
    # directions: every segment from the wrist to the fingertip within 0.5 degrees (as the limbs
    # are checked). The fingertip then sits where the rig's own segment lengths along the SMPL
    # directions put it; 0.5 degrees over the ~0.2 m from wrist to fingertip is at most 1.7 mm,
    # so the check is 2 mm.
    def chain(obj, names):
        pose = obj.pose.bones
        pts = [pose[n].head for n in names] + [pose[names[-1]].tail]
        return np.array([obj.matrix_world @ p for p in pts])

    for frame in (1, 5, 20, 40):
        scene.frame_set(frame)
        for side in ("left", "right"):
            for finger in ("index", "middle", "pinky", "ring", "thumb"):
                joints = [f"{side}_wrist"] + [f"{side}_{finger}{k}" for k in (1, 2, 3)]
                src, tgt = chain(source, joints), chain(rig, [table[j] for j in joints])
                src_dirs, tgt_segments = np.diff(src, axis=0), np.diff(tgt, axis=0)
                lengths = np.linalg.norm(tgt_segments, axis=1)
                cos = np.sum(src_dirs * tgt_segments, 1) / np.linalg.norm(src_dirs, axis=1) / lengths
                assert np.degrees(np.arccos(np.minimum(1.0, cos))).max() < 0.5, (frame, side, finger)
                src_dirs /= np.linalg.norm(src_dirs, axis=1, keepdims=True)
                expected_tip = tgt[1] + (lengths[1:, None] * src_dirs[1:]).sum(0)
                assert np.linalg.norm(tgt[-1] - expected_tip) < 0.002, (frame, side, finger)
