"""The SMPL 24-joint kinematic tree and MediaPipe's 33 pose landmarks (names and order)."""

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
NUM_JOINTS = len(JOINT_NAMES)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}


def _mirror_name(name: str) -> str:
    swap = {"left": "right", "right": "left"}
    return "_".join(swap.get(part, part) for part in name.split("_"))


# joint i of a mirrored body is joint MIRROR[i] of the original
MIRROR = tuple(JOINT_INDEX[_mirror_name(n)] for n in JOINT_NAMES)

LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
NUM_LANDMARKS = len(LANDMARK_NAMES)
LANDMARK_INDEX = {name: i for i, name in enumerate(LANDMARK_NAMES)}
LANDMARK_MIRROR = tuple(LANDMARK_INDEX[_mirror_name(n)] for n in LANDMARK_NAMES)


def children(parents=PARENTS):
    """List of child indices for every joint."""
    out = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            out[p].append(j)
    return out


# SMPL-H: SMPL's first 22 joints (the rigid "hand" joints dropped), then 15 finger joints per
# hand, left hand first; per hand the fingers in SMPL-H's order, three joints each from the
# knuckle outwards (thumb: base of the metacarpal, knuckle, interphalangeal joint).
HAND_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
HAND_JOINT_NAMES = tuple(f"{finger}{k}" for finger in HAND_FINGERS for k in (1, 2, 3))
NUM_HAND_JOINTS = len(HAND_JOINT_NAMES)
NUM_BODY_JOINTS_SMPLH = 22
SMPLH_JOINT_NAMES = JOINT_NAMES[:NUM_BODY_JOINTS_SMPLH] + tuple(
    f"{side}_{name}" for side in ("left", "right") for name in HAND_JOINT_NAMES)
SMPLH_PARENTS = PARENTS[:NUM_BODY_JOINTS_SMPLH] + tuple(
    wrist if k == 0 else NUM_BODY_JOINTS_SMPLH + 15 * h + j - 1
    for h, wrist in enumerate((JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]))
    for j in range(NUM_HAND_JOINTS) for k in (j % 3,))
NUM_SMPLH_JOINTS = len(SMPLH_JOINT_NAMES)
