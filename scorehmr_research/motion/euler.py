"""Euler-angle rotation matrices in numpy (the form BVH and ASF/AMC store rotations in)."""
import numpy as np


def axis_rotation(axis, angle_rad):
    """Rotation matrices (..., 3, 3) about a principal axis 'x', 'y' or 'z'."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    one, zero = np.ones_like(c), np.zeros_like(c)
    rows = {
        "x": [one, zero, zero, zero, c, -s, zero, s, c],
        "y": [c, zero, s, zero, one, zero, -s, zero, c],
        "z": [c, -s, zero, s, c, zero, zero, zero, one],
    }[axis.lower()]
    return np.stack(rows, -1).reshape(np.shape(c) + (3, 3))


def euler_to_matrix(angles_deg, order):
    """Compose rotations in ``order`` as written, left to right (R = R_order[0] @ R_order[1] ...).

    ``angles_deg[..., i]`` is the angle about axis ``order[i]``."""
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for i, axis in enumerate(order):
        out = out @ axis_rotation(axis, angles[..., i])
    return out
