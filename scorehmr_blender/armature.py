"""Build the SMPL armature and its skinned body mesh in Blender.

One bone per SMPL joint, named and parented as in ``smplcore.skeleton``; a bone's head sits on
its joint so that posing the bone rotates the joint's children about it, exactly as in SMPL.
Rest pose = the body model's rest joints for the result's betas, converted with ``smplcore.axes``.
"""
import bpy
import numpy as np

from ..smplcore import axes
from ..smplcore.skeleton import JOINT_NAMES, PARENTS, children

# Which child a bone with several children points at (pelvis -> spine, spine3 -> neck).
_MAIN_CHILD = {0: 3, 9: 12}
_MIN_BONE_LENGTH = 0.03


def bone_tails(heads):
    """Tail of every bone: toward its (main) child; leaves continue their parent's direction."""
    kids = children(PARENTS)
    tails = np.empty_like(heads)
    for j, head in enumerate(heads):
        if kids[j]:
            tails[j] = heads[_MAIN_CHILD.get(j, kids[j][0])]
        else:
            direction = head - heads[PARENTS[j]]
            tails[j] = head + 0.5 * direction
        if np.linalg.norm(tails[j] - head) < _MIN_BONE_LENGTH:
            tails[j] = head + np.array([0.0, 0.0, _MIN_BONE_LENGTH])
    return tails


def _roll_reference(direction):
    """Bones point their local Z to the body's front (-Y); bones that point along Y use up (+Z)."""
    direction = direction / np.linalg.norm(direction)
    return (0.0, 0.0, 1.0) if abs(direction[1]) > 0.7 else (0.0, -1.0, 0.0)


def create_armature(collection, name, rest_joints_smpl):
    """Armature object with 24 bones in SMPL's rest pose (rest_joints in the SMPL body frame)."""
    heads = axes.smpl_points_to_blender(rest_joints_smpl)
    tails = bone_tails(heads)
    data = bpy.data.armatures.new(name)
    data.display_type = "STICK"
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    _edit_bones(obj, heads, tails)
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    obj.show_in_front = True
    return obj


def _edit_bones(obj, heads, tails):
    view_layer = bpy.context.view_layer
    previous_active = view_layer.objects.active
    previous_mode = previous_active.mode if previous_active is not None else "OBJECT"
    if previous_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        bones = obj.data.edit_bones
        for j, name in enumerate(JOINT_NAMES):
            bone = bones.new(name)
            bone.head, bone.tail = heads[j].tolist(), tails[j].tolist()
            bone.align_roll(_roll_reference(tails[j] - heads[j]))
        for j, name in enumerate(JOINT_NAMES):
            if PARENTS[j] >= 0:
                bones[name].parent = bones[JOINT_NAMES[PARENTS[j]]]
                # connected only where the parent's tail is this head, so the head stays put
                bones[name].use_connect = bool(np.allclose(tails[PARENTS[j]], heads[j]))
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous_active
        if previous_active is not None and previous_mode != "OBJECT":
            bpy.ops.object.mode_set(mode=previous_mode)


def rest_rotations(arm_obj):
    """(24, 3, 3) rest orientation of each bone in armature space (includes the roll)."""
    bones = arm_obj.data.bones
    return np.array([np.array(bones[name].matrix_local.to_3x3()) for name in JOINT_NAMES])


def rest_heads(arm_obj):
    bones = arm_obj.data.bones
    return np.array([np.array(bones[name].head_local) for name in JOINT_NAMES])


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
    _add_vertex_groups(obj, model.weights)
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


def _add_vertex_groups(obj, weights):
    for j, name in enumerate(JOINT_NAMES):
        group = obj.vertex_groups.new(name=name)
        ids = np.nonzero(weights[:, j] > 1e-4)[0]
        values = np.round(weights[ids, j], 5)
        # one call per distinct weight value instead of one per vertex (most weights repeat)
        order = np.argsort(values, kind="stable")
        unique, starts = np.unique(values[order], return_index=True)
        for value, chunk in zip(unique, np.split(ids[order], starts[1:])):
            group.add(chunk.tolist(), float(value), "REPLACE")
