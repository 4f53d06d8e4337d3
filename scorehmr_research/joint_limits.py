"""Anatomical joint-angle limits of the SMPL joints, on the rotation-vector components.

Local joint axes are SMPL's (world-aligned at the T rest pose): +X the body's left, +Y up,
+Z forward. Ranges are for the left side and the spine; the right side mirrors them
(a mirror maps a rotation vector (x, y, z) to (x, -y, -z)). Used to widen the prior's
training coverage, to penalise the SMPLify baseline and to judge sampled poses.
"""
import torch

from smplcore.skeleton import JOINT_NAMES, NUM_JOINTS

_DEG = 3.141592653589793 / 180.0
_LEFT_AND_SPINE = {  # joint: ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi)) in degrees
    "spine1": ((-25, 50), (-30, 30), (-25, 25)),
    "spine2": ((-20, 35), (-25, 25), (-20, 20)),
    "spine3": ((-20, 35), (-25, 25), (-20, 20)),
    "neck": ((-40, 50), (-50, 50), (-35, 35)),
    "head": ((-30, 35), (-40, 40), (-25, 25)),
    "left_hip": ((-125, 30), (-45, 45), (-30, 70)),     # -x: thigh forward; +z: out to the left
    "left_knee": ((0, 150), (-15, 15), (-8, 8)),        # +x: shank backwards
    "left_ankle": ((-45, 50), (-25, 25), (-25, 25)),
    "left_foot": ((-40, 40), (-10, 10), (-10, 10)),
    "left_collar": ((-20, 20), (-25, 20), (-15, 30)),
    "left_shoulder": ((-90, 90), (-120, 50), (-95, 100)),  # -y: arm forward; +z: arm up
    "left_elbow": ((-90, 90), (-150, 5), (-10, 10)),    # -y: forearm flexes forward
    "left_wrist": ((-45, 45), (-40, 40), (-80, 80)),
    "left_hand": ((-25, 25), (-25, 25), (-25, 25)),
}


def _table():
    lo = torch.full((NUM_JOINTS, 3), -torch.pi)
    hi = torch.full((NUM_JOINTS, 3), torch.pi)
    for name, ranges in _LEFT_AND_SPINE.items():
        r = torch.tensor(ranges, dtype=torch.float32) * _DEG
        lo[JOINT_NAMES.index(name)], hi[JOINT_NAMES.index(name)] = r[:, 0], r[:, 1]
        if name.startswith("left_"):
            j = JOINT_NAMES.index("right_" + name[5:])
            lo[j] = torch.stack([r[0, 0], -r[1, 1], -r[2, 1]])
            hi[j] = torch.stack([r[0, 1], -r[1, 0], -r[2, 0]])
    return lo, hi


LIMITS_LOW, LIMITS_HIGH = _table()   # (24, 3) radians; the pelvis is free


def limit_violation(aa: torch.Tensor) -> torch.Tensor:
    """Per-component overshoot (…, 24, 3) beyond the limits, in radians (0 inside)."""
    lo, hi = LIMITS_LOW.to(aa), LIMITS_HIGH.to(aa)
    return torch.relu(lo - aa) + torch.relu(aa - hi)


def inside_limits(aa: torch.Tensor, tolerance_deg: float = 5.0) -> torch.Tensor:
    """(…,) bool: every body joint within its limits (a few degrees of slack)."""
    return (limit_violation(aa)[..., 1:, :] <= tolerance_deg * _DEG).all(-1).all(-1)


def sample_within_limits(n: int, generator=None, spread: float = 0.6) -> torch.Tensor:
    """Body poses (n, 24, 3) drawn inside the limits, concentrated toward the middle of
    each range (Beta-like via averaged uniforms) so most samples are everyday poses."""
    lo, hi = LIMITS_LOW, LIMITS_HIGH
    u = (torch.rand((n, NUM_JOINTS, 3), generator=generator) + torch.rand((n, NUM_JOINTS, 3), generator=generator)) / 2
    mid = torch.clamp((lo + hi) / 2, min=lo, max=hi)
    centre = torch.where((lo < 0) & (hi > 0), torch.zeros_like(mid), mid)
    aa = centre + (u - 0.5) * 2 * spread * torch.where(u > 0.5, hi - centre, centre - lo)
    aa[:, 0] = 0.0
    return aa
