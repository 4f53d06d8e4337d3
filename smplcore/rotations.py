"""Rotation conversions in numpy, batched over leading axes.

Conventions: axis-angle is a rotation vector (radians); quaternions are (w, x, y, z) like
Blender's; the 6D representation is the first two columns of the matrix, flattened row by
row ([R00, R01, R10, R11, R20, R21]), as in ScoreHMR / ProHMR.
"""
import numpy as np

_EPS = 1e-12


def axis_angle_to_matrix(aa):
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, _EPS)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1.0 - c) * (k @ k)


def matrix_to_quaternion(m):
    """Robust (Shepperd) conversion; returns unit quaternions with w >= 0."""
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # |q_i| for each component from the diagonal, then signs from the best-conditioned row
    q_abs = np.sqrt(np.maximum(0.0, np.stack([
        1.0 + m00 + m11 + m22,
        1.0 + m00 - m11 - m22,
        1.0 - m00 + m11 - m22,
        1.0 - m00 - m11 + m22,
    ], axis=-1))) / 2.0
    candidates = np.stack([
        np.stack([q_abs[..., 0] ** 2, (m[..., 2, 1] - m[..., 1, 2]) / 4, (m[..., 0, 2] - m[..., 2, 0]) / 4, (m[..., 1, 0] - m[..., 0, 1]) / 4], -1),
        np.stack([(m[..., 2, 1] - m[..., 1, 2]) / 4, q_abs[..., 1] ** 2, (m[..., 1, 0] + m[..., 0, 1]) / 4, (m[..., 0, 2] + m[..., 2, 0]) / 4], -1),
        np.stack([(m[..., 0, 2] - m[..., 2, 0]) / 4, (m[..., 1, 0] + m[..., 0, 1]) / 4, q_abs[..., 2] ** 2, (m[..., 2, 1] + m[..., 1, 2]) / 4], -1),
        np.stack([(m[..., 1, 0] - m[..., 0, 1]) / 4, (m[..., 0, 2] + m[..., 2, 0]) / 4, (m[..., 2, 1] + m[..., 1, 2]) / 4, q_abs[..., 3] ** 2], -1),
    ], axis=-2) / np.maximum(q_abs, 1e-8)[..., None]
    best = np.argmax(q_abs, axis=-1)
    q = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q):
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(q.shape[:-1] + (3, 3))


def quaternion_to_axis_angle(q):
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)
    sin_half = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    # angle / sin(angle/2) -> 2 as angle -> 0
    scale = np.where(sin_half > 1e-8, angle / np.maximum(sin_half, 1e-8), 2.0)
    return q[..., 1:] * scale


def axis_angle_to_quaternion(aa):
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = angle / 2.0
    scale = np.where(angle > 1e-8, np.sin(half) / np.maximum(angle, 1e-8), 0.5)
    return np.concatenate([np.cos(half), aa * scale], axis=-1)


def matrix_to_axis_angle(m):
    return quaternion_to_axis_angle(matrix_to_quaternion(m))


def matrix_to_rot6d(m):
    m = np.asarray(m, dtype=np.float64)
    return m[..., :, :2].reshape(m.shape[:-2] + (6,))


def rot6d_to_matrix(x):
    """Gram-Schmidt on the two stored columns (any 6-vector maps to a rotation)."""
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[:-1] + (3, 2))
    a1, a2 = x[..., 0], x[..., 1]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), _EPS)
    a2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), _EPS)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def axis_angle_to_rot6d(aa):
    return matrix_to_rot6d(axis_angle_to_matrix(aa))


def rot6d_to_axis_angle(x):
    return matrix_to_axis_angle(rot6d_to_matrix(x))


def quaternion_continuity(q):
    """Flip signs along axis 0 so consecutive quaternions stay in one hemisphere (no key pops)."""
    q = np.array(q, dtype=np.float64, copy=True)
    for i in range(1, q.shape[0]):
        flip = np.sum(q[i] * q[i - 1], axis=-1) < 0
        q[i][flip] *= -1
    return q


def axis_rotation(axis, angle):
    """Rotation matrices (..., 3, 3) by ``angle`` (radians, any shape) about the principal axis
    'x', 'y' or 'z'."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(c), np.zeros_like(c)
    rows = {
        "x": [one, zero, zero, zero, c, -s, zero, s, c],
        "y": [c, zero, s, zero, one, zero, -s, zero, c],
        "z": [c, -s, zero, s, c, zero, zero, zero, one],
    }[axis.lower()]
    return np.stack(rows, -1).reshape(np.shape(c) + (3, 3))


def euler_to_matrix(angles_deg, order):
    """Euler angles (degrees; ``angles_deg[..., i]`` about axis ``order[i]``, e.g. "ZXY") to
    matrices, composed as written left to right: R = R_order[0] @ R_order[1] @ ... (the form BVH
    and ASF/AMC store rotations in)."""
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for i, axis in enumerate(order):
        out = out @ axis_rotation(axis, angles[..., i])
    return out


def shortest_arc(a, b):
    """The smallest rotation (3, 3) taking direction ``a`` onto direction ``b``. Opposite
    directions: a half turn about an axis perpendicular to ``a`` (any such turn is smallest)."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    axis, cos = np.cross(a, b), float(a @ b)
    sin = np.linalg.norm(axis)
    if sin < 1e-9:
        if cos > 0:
            return np.eye(3)
        ortho = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return axis_angle_to_matrix(ortho / np.linalg.norm(ortho) * np.pi)
    return axis_angle_to_matrix(axis / sin * np.arctan2(sin, cos))


def geodesic_angle(a, b):
    """Angle (radians, in [0, pi]) of the rotation between rotation matrices ``a`` and ``b``
    (..., 3, 3): the size of the change, unlike a difference of axis-angle vectors."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))
