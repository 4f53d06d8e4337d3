"""Every Blender-version-dependent animation call, in one place.

Blender 4.4 introduced slotted (layered) Actions and 5.0 removed the legacy ``Action.fcurves``;
callers only see "a channel bag" (something with ``fcurves``) and the helpers below.
"""
import dataclasses

import bpy
import numpy as np

SLOTTED_ACTIONS = bpy.app.version >= (4, 4, 0)


def assign_new_action(obj, name):
    """Create a new Action and make it the object's active one (the old one is left untouched)."""
    action = bpy.data.actions.new(name)
    assign_action(obj, action)
    return action


def assign_action(obj, action):
    adt = obj.animation_data or obj.animation_data_create()
    adt.action = action
    if SLOTTED_ACTIONS and adt.action_slot is None:
        slot = next((s for s in action.slots if s.target_id_type == "OBJECT"), None)
        adt.action_slot = slot or action.slots.new(id_type="OBJECT", name=obj.name)


def channelbag(obj, ensure=True):
    """The F-Curve container of the object's active Action (None when it has none)."""
    adt = obj.animation_data
    if adt is None or adt.action is None:
        return None
    action = adt.action
    if not SLOTTED_ACTIONS:
        return action
    slot = adt.action_slot
    if slot is None:
        return None
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return bag
    if not ensure:
        return None
    layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def ensure_fcurve(bag, data_path, index, group_name):
    fcurve = bag.fcurves.find(data_path, index=index)
    if fcurve is not None:
        return fcurve
    if not SLOTTED_ACTIONS:
        return bag.fcurves.new(data_path, index=index, action_group=group_name)
    fcurve = bag.fcurves.new(data_path, index=index)
    group = bag.groups.get(group_name) or bag.groups.new(group_name)
    fcurve.group = group
    return fcurve


_INTERPOLATION = {"CONSTANT": 0, "LINEAR": 1, "BEZIER": 2}  # enum values of Keyframe.interpolation


def set_keys(fcurve, frames, values, replace_range=None, interpolation=None):
    """Write keys in bulk. With ``replace_range=(a, b)`` existing keys outside [a, b] are kept
    and those inside are replaced; otherwise the curve's keys are replaced entirely.
    ``interpolation`` ("CONSTANT" for on/off curves) applies to every key."""
    frames = np.asarray(frames, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if replace_range is not None:
        old = read_keys(fcurve)
        keep = (old[:, 0] < replace_range[0]) | (old[:, 0] > replace_range[1])
        merged = np.concatenate([old[keep], np.stack([frames, values], axis=1)])
        merged = merged[np.argsort(merged[:, 0], kind="stable")]
        frames, values = merged[:, 0], merged[:, 1]
    points = fcurve.keyframe_points
    points.clear()
    points.add(len(frames))
    points.foreach_set("co", np.stack([frames, values], axis=1).astype(np.float32).ravel())
    unselected = np.zeros(len(frames), bool)  # new keys start selected; a selection means the user's
    for flag in ("select_control_point", "select_left_handle", "select_right_handle"):
        points.foreach_set(flag, unselected)
    if interpolation is not None:
        points.foreach_set("interpolation", np.full(len(frames), _INTERPOLATION[interpolation], np.int32))
    fcurve.update()


def read_keys(fcurve):
    """(N, 2) array of (frame, value)."""
    points = fcurve.keyframe_points
    co = np.empty(2 * len(points), dtype=np.float32)
    points.foreach_get("co", co)
    return co.reshape(-1, 2).astype(np.float64)


def bake_pose(obj, frame_start, frame_end):
    """Visual-keying bake of the pose into a new Action, then remove the bone constraints."""
    from bpy_extras import anim_utils

    wanted = dict(only_selected=False, do_pose=True, do_object=False, do_visual_keying=True,
                  do_constraint_clear=True, do_parents_clear=False, do_clean=False, do_location=True,
                  do_rotation=True, do_scale=False, do_bbone=False, do_custom_props=False)
    known = {f.name for f in dataclasses.fields(anim_utils.BakeOptions)}
    options = anim_utils.BakeOptions(**{k: v for k, v in wanted.items() if k in known})
    return anim_utils.bake_action(obj, action=None, frames=range(frame_start, frame_end + 1),
                                  bake_options=options)
