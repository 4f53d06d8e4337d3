"""Build the SMPL armature and its skinned body mesh in Blender.

One bone per SMPL joint, named and parented as in ``smplcore.skeleton``; a bone's head sits on
its joint so that posing the bone rotates the joint's children about it, exactly as in SMPL.
Rest pose = the body model's rest joints for the result's betas, converted with ``smplcore.axes``.
"""
import bpy
import numpy as np

from ..smplcore import axes
from ..smplcore.skeleton import (JOINT_NAMES, NUM_BODY_JOINTS_SMPLH, PARENTS, SMPLH_JOINT_NAMES,
                                 SMPLH_PARENTS, children)

# finger bones (SMPL-H names), added when a result has hands; their parents in the armature
FINGER_NAMES = SMPLH_JOINT_NAMES[NUM_BODY_JOINTS_SMPLH:]
FINGER_PARENTS = tuple(SMPLH_JOINT_NAMES[p] for p in SMPLH_PARENTS[NUM_BODY_JOINTS_SMPLH:])

# Which child a bone with several children points at (pelvis -> spine, spine3 -> neck).
_MAIN_CHILD = {0: 3, 9: 12}
_MIN_BONE_LENGTH = 0.03


def bone_tails(heads, parents=PARENTS, min_length=_MIN_BONE_LENGTH):
    """Tail of every bone: toward its (main) child; leaves continue their parent's direction."""
    kids = children(parents)
    tails = np.empty_like(heads)
    for j, head in enumerate(heads):
        if kids[j]:
            tails[j] = heads[_MAIN_CHILD.get(j, kids[j][0])]
        else:
            direction = head - heads[parents[j]]
            tails[j] = head + 0.5 * direction
        if np.linalg.norm(tails[j] - head) < min_length:
            tails[j] = head + np.array([0.0, 0.0, min_length])
    return tails


def _finger_tails(finger_heads):
    """Finger bones point at the next joint; the last phalanx continues its finger (its length
    is about the middle phalanx's)."""
    tails = np.empty_like(finger_heads)
    for j in range(len(finger_heads)):
        if j % 3 < 2:
            tails[j] = finger_heads[j + 1]
        else:
            tails[j] = finger_heads[j] + 0.8 * (finger_heads[j] - finger_heads[j - 1])
    return tails


def _roll_reference(direction):
    """Bones point their local Z to the body's front (-Y); bones that point along Y use up (+Z)."""
    direction = direction / np.linalg.norm(direction)
    return (0.0, 0.0, 1.0) if abs(direction[1]) > 0.7 else (0.0, -1.0, 0.0)


def create_armature(collection, name, rest_joints_smpl, finger_joints_smpl=None):
    """Armature object with 24 bones in SMPL's rest pose (rest_joints in the SMPL body frame),
    plus 30 finger bones with SMPL-H's names on ``finger_joints_smpl`` (30, 3) when given."""
    heads = axes.smpl_points_to_blender(rest_joints_smpl)
    tails = bone_tails(heads)
    names, parents = list(JOINT_NAMES), [JOINT_NAMES[p] if p >= 0 else None for p in PARENTS]
    if finger_joints_smpl is not None:
        finger_heads = axes.smpl_points_to_blender(finger_joints_smpl)
        heads = np.concatenate([heads, finger_heads])
        tails = np.concatenate([tails, _finger_tails(finger_heads)])
        names += list(FINGER_NAMES)
        parents += list(FINGER_PARENTS)
    data = bpy.data.armatures.new(name)
    data.display_type = "STICK"
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    _edit_bones(obj, names, parents, heads, tails)
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    obj.show_in_front = True
    return obj


def _edit_bones(obj, names, parents, heads, tails):
    view_layer = bpy.context.view_layer
    previous_active = view_layer.objects.active
    previous_mode = previous_active.mode if previous_active is not None else "OBJECT"
    if previous_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        bones = obj.data.edit_bones
        for j, name in enumerate(names):
            bone = bones.new(name)
            bone.head, bone.tail = heads[j].tolist(), tails[j].tolist()
            bone.align_roll(_roll_reference(tails[j] - heads[j]))
        for j, name in enumerate(names):
            if parents[j] is not None:
                bones[name].parent = bones[parents[j]]
                # connected only where the parent's tail is this head, so the head stays put
                bones[name].use_connect = bool(np.allclose(tails[names.index(parents[j])], heads[j]))
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous_active
        if previous_active is not None and previous_mode != "OBJECT":
            bpy.ops.object.mode_set(mode=previous_mode)


def rest_rotations(arm_obj, names=JOINT_NAMES):
    """(N, 3, 3) rest orientation of each bone in armature space (includes the roll)."""
    bones = arm_obj.data.bones
    return np.array([np.array(bones[name].matrix_local.to_3x3()) for name in names])


def rest_heads(arm_obj, names=JOINT_NAMES):
    bones = arm_obj.data.bones
    return np.array([np.array(bones[name].head_local) for name in names])


def has_fingers(arm_obj) -> bool:
    return all(name in arm_obj.data.bones for name in FINGER_NAMES)


def create_body_mesh(collection, name, model, betas, arm_obj):
    """Skinned body mesh: rest vertices for ``betas``, one vertex group per joint, UVs if any."""
    verts = axes.smpl_points_to_blender(model.rest_vertices(betas))
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts.tolist(), [], model.faces.tolist())
    _add_uvs(mesh, model)
    mesh.validate(clean_customdata=False)
    for poly in mesh.polygons:
        poly.use_smooth = True
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    _add_vertex_groups(obj, model.weights, SMPLH_JOINT_NAMES if model.weights.shape[1] == len(SMPLH_JOINT_NAMES)
                       else JOINT_NAMES)
    obj.parent = arm_obj
    modifier = obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm_obj
    return obj


def _add_uvs(mesh, model):
    vt, ft = model.extras.get("vt"), model.extras.get("ft")
    if vt is None or ft is None:
        return
    vt, ft = np.asarray(vt, np.float64), np.asarray(ft, np.int64)
    if ft.shape != model.faces.shape or vt.ndim != 2 or vt.shape[1] != 2 or ft.max() >= len(vt):
        return  # UVs that do not match this mesh are ignored, the body still imports
    layer = mesh.uv_layers.new(name="UVMap")
    # from_pydata keeps face order and each face's corner order, so loops follow ft row by row
    layer.data.foreach_set("uv", vt[ft.ravel()].astype(np.float32).ravel())


def _add_vertex_groups(obj, weights, names):
    for j, name in enumerate(names):
        group = obj.vertex_groups.new(name=name)
        ids = np.nonzero(weights[:, j] > 1e-4)[0]
        values = np.round(weights[ids, j], 5)
        # one call per distinct weight value instead of one per vertex (most weights repeat)
        order = np.argsort(values, kind="stable")
        unique, starts = np.unique(values[order], return_index=True)
        for value, chunk in zip(unique, np.split(ids[order], starts[1:])):
            group.add(chunk.tolist(), float(value), "REPLACE")
