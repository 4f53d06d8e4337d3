"""The hands of an SMPL-H-format body model: finger kinematics for fitting MediaPipe's 21 landmarks.

Per hand, the 21 points MediaPipe reports are the wrist joint, the 15 finger joints and the 5
fingertips (vertices carried by the last phalanges). Finger joint rotations are written in each
finger's anatomical axes (flexion, abduction, twist), built from the flat-hand rest pose, so
that joint limits are simple ranges; :meth:`HandModel.to_axis_angle` turns them into SMPL-H's
axis-angle in the body frame (world-aligned joint frames).
"""
import numpy as np
import torch

from smplcore.body_model_file import default_smplh_model_path, load_body_model_file
from smplcore.skeleton import HAND_FINGERS, JOINT_INDEX, NUM_BODY_JOINTS_SMPLH, NUM_HAND_JOINTS

from .geometry import axis_angle_to_matrix

SIDES = ("left", "right")
# fingers in MediaPipe's landmark order; SMPL-H's official fingertip vertices (smplx's VERTEX_IDS)
# are used when the file does not name its own
MEDIAPIPE_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_OFFICIAL_TIPS = ((2746, 2319, 2445, 2556, 2673), (6191, 5782, 5905, 6016, 6133))

# per joint (flexion, abduction, twist) limits in degrees; positive flexion curls towards the palm
_FINGER_LIMITS = (((-30, 90), (-25, 25), (-10, 10)), ((0, 110), (0, 0), (0, 0)), ((-5, 90), (0, 0), (0, 0)))
_THUMB_LIMITS = (((-40, 60), (-40, 60), (-40, 40)), ((-15, 70), (-20, 20), (-15, 15)), ((-15, 90), (-20, 20), (0, 0)))


def _hand_joint(side, finger, k):
    return NUM_BODY_JOINTS_SMPLH + NUM_HAND_JOINTS * SIDES.index(side) + 3 * HAND_FINGERS.index(finger) + k - 1


def mediapipe_points(side):
    """For each of MediaPipe's 21 landmarks, the SMPL-H joint it is (or -1 for a fingertip)."""
    points = [JOINT_INDEX[f"{side}_wrist"]]
    for finger in MEDIAPIPE_FINGERS:
        points += [_hand_joint(side, finger, k) for k in (1, 2, 3)] + [-1]
    return points


class HandModel:
    """Both hands of one body (fixed betas), in torch."""

    def __init__(self, path=None, betas=None, dtype=torch.float32):
        arrays = load_body_model_file(path or default_smplh_model_path(), tree="smplh", posedirs=False)
        betas = np.zeros(10) if betas is None else np.asarray(betas, np.float64)
        verts = arrays.rest_vertices(betas)
        joints = arrays.j_regressor @ verts
        tip_ids = np.asarray(arrays.extras.get("hand_tip_vertex_ids", _OFFICIAL_TIPS))
        self.dtype = dtype
        self.hands = {}
        for h, side in enumerate(SIDES):
            points = mediapipe_points(side)
            rest = np.array([joints[j] if j >= 0 else verts[tip_ids[h][(i - 4) // 4]] for i, j in enumerate(points)])
            self.hands[side] = _Hand(side, rest, dtype)

    def __getitem__(self, side) -> "_Hand":
        return self.hands[side]

    def per_frame(self, sides) -> "_Hand":
        """One hand whose rest points, axes and limits are those of ``sides[i]`` for frame i: the
        frames of both hands fitted as one batch (half the steps of fitting them one after the other)."""
        stacked = object.__new__(_Hand)
        stacked.__dict__.update(self.hands[sides[0]].__dict__, side=None)
        for name in ("rest", "axes", "lower", "upper"):
            setattr(stacked, name, torch.stack([getattr(self.hands[side], name) for side in sides]))
        return stacked


class _Hand:
    """One hand: 21 rest points (wrist first, MediaPipe order), the finger chains, the axes
    (shared by all frames, or one set per frame: ``HandModel.per_frame``)."""

    def __init__(self, side, rest, dtype):
        self.side = side
        rest = rest - rest[0]  # wrist at the origin
        self.rest = torch.as_tensor(rest, dtype=dtype)
        palm_normal = np.array([0.0, -1.0, 0.0])  # T-pose: palms face down
        across = rest[17] - rest[5]                # index knuckle -> pinky knuckle
        across = across - palm_normal * (across @ palm_normal)
        across /= np.linalg.norm(across)
        axes, lo, hi = [], [], []
        for f, finger in enumerate(MEDIAPIPE_FINGERS):
            base = 1 + 4 * f
            along = rest[base + 1] - rest[base]
            along = along - palm_normal * (along @ palm_normal)
            along /= np.linalg.norm(along)
            # flexion curls a finger towards the palm; the thumb curls across it, towards the pinky
            towards = palm_normal + (across if finger == "thumb" else 0.0)
            flex = np.cross(along, towards)
            flex /= np.linalg.norm(flex)
            abduct = np.cross(along, flex)
            limits = _THUMB_LIMITS if finger == "thumb" else _FINGER_LIMITS
            for k in range(3):
                axes.append(np.stack([flex, abduct, along]))
                lo.append([a for a, _ in limits[k]])
                hi.append([b for _, b in limits[k]])
        # joint order: SMPL-H's (index, middle, pinky, ring, thumb); axes above are MediaPipe's
        order = [3 * MEDIAPIPE_FINGERS.index(f) + k for f in HAND_FINGERS for k in range(3)]
        self.axes = torch.as_tensor(np.array(axes)[order], dtype=dtype)              # (15, 3, 3) rows
        self.lower = torch.as_tensor(np.radians(np.array(lo)[order]), dtype=dtype)   # (15, 3)
        self.upper = torch.as_tensor(np.radians(np.array(hi)[order]), dtype=dtype)
        # the points and joints of the five fingers at each level from the palm (MediaPipe order)
        self._levels = [[1 + 4 * f + k for f in range(5)] for k in range(4)]
        self._level_joints = [[3 * HAND_FINGERS.index(finger) + k for finger in MEDIAPIPE_FINGERS] for k in range(3)]

    def to_axis_angle(self, anat):
        """(..., 15, 3) flexion/abduction/twist (radians) -> (..., 15, 3) SMPL-H axis-angle."""
        return torch.einsum("...jk,...jkc->...jc", anat, self.axes.to(anat))

    def from_axis_angle(self, aa):
        return torch.einsum("...jc,...jkc->...jk", aa, self.axes.to(aa))

    def limit_violation(self, anat):
        return torch.relu(self.lower.to(anat) - anat) + torch.relu(anat - self.upper.to(anat))

    def points(self, hand_rotation, aa):
        """Wrist-relative 21 points (N, 21, 3) for global hand rotations (N, 3, 3) and SMPL-H
        finger axis-angle (N, 15, 3), in the frame ``hand_rotation`` maps into. The five fingers
        are walked together, one joint level at a time."""
        local = axis_angle_to_matrix(aa)                    # (N, 15, 3, 3)
        rest = self.rest.to(aa)
        n = aa.shape[0]
        rotation = hand_rotation[:, None].expand(n, 5, 3, 3)
        position = torch.zeros(n, 5, 3, dtype=aa.dtype, device=aa.device)
        levels = []
        for k in range(4):                                  # knuckle/base, two more joints, tip
            points, parents = self._levels[k], self._levels[k - 1] if k else [0] * 5
            offset = rest[..., points, :] - rest[..., parents, :]  # (5, 3) or per frame (N, 5, 3)
            position = position + (rotation @ offset[..., None])[..., 0]
            levels.append(position)
            if k < 3:
                rotation = rotation @ local[:, self._level_joints[k]]
        out = torch.zeros(n, 21, 3, dtype=aa.dtype, device=aa.device)
        for k, position in enumerate(levels):
            out[:, self._levels[k]] = position
        return out
