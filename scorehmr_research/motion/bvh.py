"""BVH (Biovision hierarchy) files with the common rig namings (Mixamo, Biovision/MotionBuilder).

Each joint: ``OFFSET`` from its parent and ``CHANNELS`` (positions and Euler rotations in the
order written, R = R_first R_second R_third); ``End Site`` blocks add leaf points, named here
``<parent>_End``. Assumed Y up, as the format conventionally is; units are guessed from the
rest-pose height (cm, inches or m).
"""
import os
import re

import numpy as np

from smplcore.rotations import euler_to_matrix

from .convert import clip_from_positions
from .ik import Target
from .resample import uniform_times

LICENCE = "MIT (bvhtoolbox 0.1.3 example files; origin of the files undocumented)"


class Joint:
    def __init__(self, name, parent, offset):
        self.name, self.parent, self.offset = name, parent, np.asarray(offset, dtype=np.float64)
        self.channels = []


def read_bvh(path):
    """-> (joints in file order, motion (T, C) in file units/degrees, frame time in s)."""
    with open(path) as f:
        tokens = f.read().split()
    joints, stack, i = [], [], 0
    pending = None
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            pending = tokens[i + 1]
            i += 2
        elif tok == "End":
            pending = f"{stack[-1].name}_End"
            i += 2
        elif tok == "{":
            stack.append(Joint(pending, stack[-1] if stack else None, (0, 0, 0)))
            joints.append(stack[-1])
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            stack[-1].offset = np.array(tokens[i + 1:i + 4], dtype=np.float64)
            i += 4
        elif tok == "CHANNELS":
            count = int(tokens[i + 1])
            stack[-1].channels = [c.lower() for c in tokens[i + 2:i + 2 + count]]
            i += 2 + count
        else:
            i += 1
    frames = int(tokens[i + 2])
    frame_time = float(tokens[i + 5])
    values = np.array(tokens[i + 6:], dtype=np.float64)
    return joints, values.reshape(frames, -1), frame_time


def _unit_scale(joints):
    """Metres per file unit, from the rest-pose height of the skeleton."""
    rest = {}
    for j in joints:
        rest[j.name] = j.offset + (rest[j.parent.name] if j.parent else 0.0)
    height = np.ptp(np.array(list(rest.values()))[:, 1])
    if height > 100:
        return 0.01          # centimetres
    if height > 10:
        return 0.0254        # inches
    return 1.0


def forward_kinematics(joints, motion):
    """-> joint names, world positions (T, J, 3) metres."""
    scale = _unit_scale(joints)
    n = len(motion)
    col = 0
    world_r, world_p = {}, {}
    for j in joints:
        chans = motion[:, col:col + len(j.channels)]
        col += len(j.channels)
        pos = np.broadcast_to(j.offset, (n, 3)).copy()
        rot_axes = "".join(c[0] for c in j.channels if c.endswith("rotation"))
        rot_cols = [k for k, c in enumerate(j.channels) if c.endswith("rotation")]
        for k, c in enumerate(j.channels):
            if c.endswith("position"):
                pos[:, "xyz".index(c[0])] = chans[:, k]
        local_r = euler_to_matrix(chans[:, rot_cols], rot_axes) if rot_cols else np.eye(3)
        if j.parent is None:
            world_r[j.name], world_p[j.name] = np.broadcast_to(local_r, (n, 3, 3)), pos
        else:
            p = j.parent.name
            world_p[j.name] = world_p[p] + (world_r[p] @ pos[..., None])[..., 0]
            world_r[j.name] = world_r[p] @ local_r
    names = [j.name for j in joints]
    return names, np.stack([world_p[k] for k in names], 1) * scale


def _sided(template):
    return [Target(src.format(S=S), dst.format(s=s), w, (off[0] * sign, off[1], off[2]))
            for S, s, sign in (("Left", "left", 1.0), ("Right", "right", -1.0))
            for src, dst, w, off in template]


# rig naming families -> targets (offsets in the body-model joint's rest frame, m; +X = left)
RIGS = {
    "mixamo": [
        Target("Hips", "pelvis"), Target("Spine", "spine1", 0.3), Target("Spine1", "spine2", 0.3),
        Target("Spine2", "spine3", 0.3), Target("Neck", "neck", 0.5), Target("Head", "head", 0.5),
        Target("HeadTop_End", "head", 0.5, (0.0, 0.14, 0.02)),
        *_sided([("{S}Shoulder", "{s}_collar", 0.3, (0.05, 0.0, 0.0)),
                 ("{S}Arm", "{s}_shoulder", 1.0, (0, 0, 0)), ("{S}ForeArm", "{s}_elbow", 1.0, (0, 0, 0)),
                 ("{S}Hand", "{s}_wrist", 1.0, (0, 0, 0)), ("{S}HandMiddle1", "{s}_hand", 0.5, (0, 0, 0)),
                 ("{S}UpLeg", "{s}_hip", 1.0, (0, 0, 0)), ("{S}Leg", "{s}_knee", 1.0, (0, 0, 0)),
                 ("{S}Foot", "{s}_ankle", 1.0, (0, 0, 0)), ("{S}ToeBase", "{s}_foot", 1.0, (0, 0, 0)),
                 ("{S}Toe_End", "{s}_foot", 0.3, (0.0, 0.0, 0.06))]),
    ],
    "biovision": [
        Target("Hips", "pelvis"), Target("Chest", "spine1", 0.3), Target("Chest2", "spine2", 0.3),
        Target("Neck", "neck", 0.5, (0.0, -0.06, 0.0)), Target("Head", "head", 0.5, (0.0, -0.04, 0.0)),
        Target("Head_End", "head", 0.5, (0.0, 0.14, 0.02)),
        *_sided([("{S}Shoulder", "{s}_shoulder", 1.0, (0, 0, 0)), ("{S}Elbow", "{s}_elbow", 1.0, (0, 0, 0)),
                 ("{S}Wrist", "{s}_wrist", 1.0, (0, 0, 0)), ("{S}Wrist_End", "{s}_hand", 0.5, (0.04, 0, 0)),
                 ("{S}Hip", "{s}_hip", 1.0, (0, 0, 0)), ("{S}Knee", "{s}_knee", 1.0, (0, 0, 0)),
                 ("{S}Ankle", "{s}_ankle", 1.0, (0, 0, 0)),
                 ("{S}Ankle_End", "{s}_foot", 0.5, (0.0, 0.0, 0.05))]),
    ],
}


def _strip_namespace(name):
    return re.sub(r"^.*:", "", name)


def match_rig(names):
    """The rig table matching most of the file's joint names, restricted to those present."""
    present = set(names)
    best = max(RIGS.values(), key=lambda rig: sum(t.source in present for t in rig))
    return [t for t in best if t.source in present]


def import_bvh(model, path, name=None, max_frames=None, iters=400):
    joints, motion, frame_time = read_bvh(path)
    names, positions = forward_kinematics(joints, motion)
    names = [_strip_namespace(n) for n in names]
    targets = match_rig(names)
    if len(targets) < 10:
        raise ValueError(f"{path}: unknown BVH rig (only {len(targets)} joints matched)")
    name = name or os.path.splitext(os.path.basename(path))[0]
    return clip_from_positions(model, name, "bvhtoolbox/bvh", LICENCE, positions, names,
                               uniform_times(len(positions), 1.0 / frame_time), targets, np.eye(3),
                               max_frames, iters)
