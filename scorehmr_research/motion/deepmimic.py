"""DeepMimic motion files (``pybullet_data/data/motions/humanoid3d_*.txt``, ``walker/*.txt``).

JSON ``{"Frames": [[dt, root xyz, root quat, chest, neck, r hip, r knee, r ankle, r shoulder,
r elbow, l hip, l knee, l ankle, l shoulder, l elbow], ...]}``: quaternions (w, x, y, z) are
local rotations, knees and elbows are one angle about the joint's z axis. The skeleton is
DeepMimic's humanoid (``pybullet_data/humanoid/humanoid.urdf``, loaded at scale 0.25): Y up,
facing +X, right side +Z, all identity = standing with arms down.
"""
import json

import numpy as np

from smplcore.rotations import axis_rotation, quaternion_to_matrix

from .convert import clip_from_positions
from .ik import Target

LICENCE = "zlib (pybullet 3.2.7, Bullet Physics / DeepMimic motion data)"
SCALE = 0.25  # the URDF is authored 4x life size; DeepMimic loads it with globalScaling=0.25

# joint -> (parent, offset from parent in the parent's frame, URDF units)
JOINTS = {
    "root": (None, (0.0, 0.0, 0.0)),
    "chest": ("root", (0.0, 0.944604, 0.0)),
    "neck": ("chest", (0.0, 0.895576, 0.0)),
    "right_hip": ("root", (0.0, 0.0, 0.339548)),
    "right_knee": ("right_hip", (0.0, -1.686184, 0.0)),
    "right_ankle": ("right_knee", (0.0, -1.639480, 0.0)),
    "right_shoulder": ("chest", (-0.096200, 0.974000, 0.732440)),
    "right_elbow": ("right_shoulder", (0.0, -1.099152, 0.0)),
    "left_hip": ("root", (0.0, 0.0, -0.339548)),
    "left_knee": ("left_hip", (0.0, -1.686184, 0.0)),
    "left_ankle": ("left_knee", (0.0, -1.639480, 0.0)),
    "left_shoulder": ("chest", (-0.096200, 0.974000, -0.732440)),
    "left_elbow": ("left_shoulder", (0.0, -1.099152, 0.0)),
}
# points fixed in a joint's frame: wrist (fixed joint), head sphere centre, foot box toe / heel
SITES = {
    "right_wrist": ("right_elbow", (0.0, -1.035788, 0.0)),
    "left_wrist": ("left_elbow", (0.0, -1.035788, 0.0)),
    "head": ("neck", (0.0, 0.7, 0.0)),
    "right_toe": ("right_ankle", (0.534, -0.09, 0.0)),
    "left_toe": ("left_ankle", (0.534, -0.09, 0.0)),
    "right_heel": ("right_ankle", (-0.174, -0.09, 0.0)),
    "left_heel": ("left_ankle", (-0.174, -0.09, 0.0)),
}
# frame-data layout after dt and root position: (joint, number of values)
LAYOUT = (("root", 4), ("chest", 4), ("neck", 4), ("right_hip", 4), ("right_knee", 1),
          ("right_ankle", 4), ("right_shoulder", 4), ("right_elbow", 1), ("left_hip", 4),
          ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1))

# DeepMimic world (Y up, character faces +X at rest, right = +Z) -> SMPL-style Y-up world
# (+X left, +Z forward at rest): a rotation about Y.
TO_Y_UP = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])

TARGETS = (
    Target("root", "pelvis", 1.0, (0.0, -0.01, 0.0)),
    Target("chest", "spine2", 0.5),
    Target("neck", "neck", 0.5),
    Target("head", "head", 0.5, (0.0, 0.06, 0.02)),
    *[Target(f"{s}_{j}", f"{s}_{k}") for s in ("left", "right") for j, k in
      (("hip", "hip"), ("knee", "knee"), ("ankle", "ankle"), ("shoulder", "shoulder"),
       ("elbow", "elbow"), ("wrist", "wrist"))],
    *[Target(f"{s}_toe", f"{s}_foot", 0.5, (0.0, -0.01, 0.03)) for s in ("left", "right")],
    *[Target(f"{s}_heel", f"{s}_ankle", 0.5, (0.0, -0.05, -0.05)) for s in ("left", "right")],
)


def read_frames(path):
    with open(path) as f:
        frames = np.asarray(json.load(f)["Frames"], dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != 44:
        raise ValueError(f"{path}: not a DeepMimic humanoid motion (expected 44 values per frame)")
    return frames


def forward_kinematics(frames):
    """frames (T, 44) -> joint names, world positions (T, J, 3) metres, frame times (T,)."""
    n = len(frames)
    local = {}
    col = 4
    for joint, width in LAYOUT:
        vals = frames[:, col:col + width]
        local[joint] = quaternion_to_matrix(vals) if width == 4 else axis_rotation("z", vals[:, 0])
        col += width
    world_r, world_p = {}, {}
    for joint, (parent, offset) in JOINTS.items():
        if parent is None:
            world_r[joint], world_p[joint] = local[joint], frames[:, 1:4]
            continue
        offset = np.asarray(offset) * SCALE
        world_p[joint] = world_p[parent] + world_r[parent] @ offset
        world_r[joint] = world_r[parent] @ local[joint]
    for site, (parent, offset) in SITES.items():
        world_p[site] = world_p[parent] + world_r[parent] @ (np.asarray(offset) * SCALE)
    names = list(world_p)
    # dt is each frame's duration; the last frame's dt is often 0
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    return names, np.stack([world_p[k] for k in names], 1).reshape(n, len(names), 3), times


def import_deepmimic(model, path, name=None, max_frames=None, iters=400):
    names, positions, times = forward_kinematics(read_frames(path))
    name = name or path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return clip_from_positions(model, name, "pybullet/deepmimic", LICENCE, positions, names, times,
                               TARGETS, TO_Y_UP, max_frames, iters)
