"""Rotation conversions in torch (batched, differentiable). Conventions as smplcore.rotations:
6D = first two columns of R flattened row by row; quaternions (w, x, y, z)."""
import torch
import torch.nn.functional as F


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    angle = torch.linalg.norm(aa, dim=-1, keepdim=True)
    # near zero, use the first-order series so gradients stay finite
    small = angle < 1e-6
    safe = torch.where(small, torch.ones_like(angle), angle)
    axis = aa / safe
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(aa.shape[:-1] + (3, 3))
    s = torch.sin(safe)[..., None]
    c = torch.cos(safe)[..., None]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(k.shape)
    full = eye + s * k + (1 - c) * (k @ k)
    ax, ay, az = aa.unbind(-1)
    k_small = torch.stack([zero, -az, ay, az, zero, -ax, -ay, ax, zero], -1).reshape(k.shape)
    return torch.where(small[..., None], eye + k_small, full)


def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    return m[..., :, :2].reshape(m.shape[:-2] + (6,))


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    x = x.reshape(x.shape[:-1] + (3, 2))
    b1 = F.normalize(x[..., 0], dim=-1)
    a2 = x[..., 1]
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    """Via the quaternion (stable for all angles, including near pi)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    q_abs = torch.sqrt(torch.clamp(torch.stack([
        1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1), min=0)) / 2
    rows = torch.stack([
        torch.stack([q_abs[..., 0] ** 2, (m[..., 2, 1] - m[..., 1, 2]) / 4, (m[..., 0, 2] - m[..., 2, 0]) / 4, (m[..., 1, 0] - m[..., 0, 1]) / 4], -1),
        torch.stack([(m[..., 2, 1] - m[..., 1, 2]) / 4, q_abs[..., 1] ** 2, (m[..., 1, 0] + m[..., 0, 1]) / 4, (m[..., 0, 2] + m[..., 2, 0]) / 4], -1),
        torch.stack([(m[..., 0, 2] - m[..., 2, 0]) / 4, (m[..., 1, 0] + m[..., 0, 1]) / 4, q_abs[..., 2] ** 2, (m[..., 2, 1] + m[..., 1, 2]) / 4], -1),
        torch.stack([(m[..., 1, 0] - m[..., 0, 1]) / 4, (m[..., 0, 2] + m[..., 2, 0]) / 4, (m[..., 2, 1] + m[..., 1, 2]) / 4, q_abs[..., 3] ** 2], -1),
    ], -2) / torch.clamp(q_abs, min=1e-8)[..., None]
    best = q_abs.argmax(-1)
    q = torch.gather(rows, -2, best[..., None, None].expand(best.shape + (1, 4)))[..., 0, :]
    q = F.normalize(q, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)
    sin_half = torch.linalg.norm(q[..., 1:], dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    scale = torch.where(sin_half > 1e-8, angle / torch.clamp(sin_half, min=1e-8), torch.full_like(angle, 2.0))
    return q[..., 1:] * scale


def axis_angle_to_rot6d(aa: torch.Tensor) -> torch.Tensor:
    return matrix_to_rot6d(axis_angle_to_matrix(aa))


def rot6d_to_axis_angle(x: torch.Tensor) -> torch.Tensor:
    return matrix_to_axis_angle(rot6d_to_matrix(x))


def axis_rotation(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) by ``angle`` (radians) about the principal axis 'x', 'y' or 'z'."""
    c, s, z, o = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle), torch.ones_like(angle)
    rows = {
        "x": [o, z, z, z, c, -s, z, s, c],
        "y": [c, z, s, z, o, z, -s, z, c],
        "z": [c, -s, z, s, c, z, z, z, o],
    }[axis.lower()]
    return torch.stack(rows, -1).reshape(angle.shape + (3, 3))


def geodesic_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle (radians) of the rotation between rotation matrices ``a`` and ``b`` (..., 3, 3)."""
    cos = ((a.transpose(-1, -2) @ b).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return torch.arccos(cos.clamp(-1, 1))
