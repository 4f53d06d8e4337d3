"""World joint-position arrays: the climbing clips in the ``holosoma-retargeting`` wheel.

``demo_data/climb/<seq>/<seq>_joint_positions_f<a>-<b>.npy`` holds (T, 53, 3) float32 world
positions in metres, Z up, of holosoma's "mocap" skeleton: the 53 joints listed in
``MOCAP_DEMO_JOINTS`` (``holosoma_retargeting/config_types/data_type.py``, copied below),
a MotionBuilder/Mixamo-style rig with finger joints. The retargeting example loads them with
``[::4]`` to get its 30 fps robot motion, so the capture rate is 120 fps.
"""
import os

import numpy as np

from smplcore.axes import Z_UP_TO_Y_UP

from .convert import clip_from_positions
from .ik import Target
from .resample import uniform_times

LICENCE = "Apache-2.0 (holosoma-retargeting 0.1.0, Amazon FAR)"
FPS = 120.0

_FINGERS = [f"Hand{f}{i}" for f in ("Thumb", "Index", "Middle", "Ring", "Pinky") for i in (1, 2, 3)]
JOINT_NAMES = (
    ["Hips", "Spine", "Spine1", "Neck", "Head"]
    + [f"Left{n}" for n in ["Shoulder", "Arm", "ForeArm", "Hand"] + _FINGERS]
    + [f"Right{n}" for n in ["Shoulder", "Arm", "ForeArm", "Hand"] + _FINGERS]
    + ["LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RightUpLeg", "RightLeg", "RightFoot",
       "RightToeBase", "LeftFootMod", "RightFootMod"]
)
assert len(JOINT_NAMES) == 53

# holosoma's Spine1 sits at chest height (~33 cm above the hips), Spine at ~8 cm
TARGETS = (
    Target("Hips", "pelvis"), Target("Spine", "spine1", 0.3), Target("Spine1", "spine3", 0.3),
    Target("Neck", "neck", 0.5), Target("Head", "head", 0.5),
    *[t for S, s, sign in (("Left", "left", 1.0), ("Right", "right", -1.0)) for t in (
        Target(f"{S}Shoulder", f"{s}_collar", 0.3, (sign * 0.05, 0.0, 0.0)),
        Target(f"{S}Arm", f"{s}_shoulder"), Target(f"{S}ForeArm", f"{s}_elbow"),
        Target(f"{S}Hand", f"{s}_wrist"), Target(f"{S}HandMiddle1", f"{s}_hand", 0.5),
        Target(f"{S}HandIndex1", f"{s}_hand", 0.3, (0.0, 0.0, 0.02)),
        Target(f"{S}HandPinky1", f"{s}_hand", 0.3, (0.0, 0.0, -0.03)),
        Target(f"{S}UpLeg", f"{s}_hip"), Target(f"{S}Leg", f"{s}_knee"),
        Target(f"{S}Foot", f"{s}_ankle"), Target(f"{S}ToeBase", f"{s}_foot"),
    )],
)


def import_joint_positions(model, path, name=None, max_frames=None, iters=400):
    positions = np.load(path, allow_pickle=False)
    if positions.ndim != 3 or positions.shape[1:] != (len(JOINT_NAMES), 3):
        raise ValueError(f"{path}: expected (T, {len(JOINT_NAMES)}, 3) joint positions, got {positions.shape}")
    name = name or os.path.basename(os.path.dirname(path))
    return clip_from_positions(model, name, "holosoma/climb", LICENCE, positions, JOINT_NAMES,
                               uniform_times(len(positions), FPS), TARGETS, Z_UP_TO_Y_UP, max_frames, iters)
