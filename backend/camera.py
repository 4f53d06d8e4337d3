"""Perspective camera helpers: projection, and the closed-form translation that best places a
posed body in front of the camera given its 2D landmarks."""
import torch

def project(points: torch.Tensor, focal, principal) -> torch.Tensor:
    """(…, K, 3) camera-frame points -> (…, K, 2) pixels."""
    z = points[..., 2:3].clamp(min=1e-3)
    return focal[..., None, None] * points[..., :2] / z + principal[..., None, :]


def solve_translation(points: torch.Tensor, kp: torch.Tensor, focal, principal, min_depth=0.5) -> torch.Tensor:
    """Translation t (N, 3) minimising the confidence-weighted linearised reprojection error of
    points + t (N, K, 3) against kp (N, K, 3: pixels + confidence):
    (u - c)(Z + t_z) = f (X + t_x), the same for y — linear in t, solved exactly."""
    n = points.shape[0]
    focal = torch.as_tensor(focal, dtype=points.dtype, device=points.device).expand(n)
    principal = torch.as_tensor(principal, dtype=points.dtype, device=points.device).expand(n, 2)
    w = kp[..., 2].clamp(min=0)
    rows, rhs = [], []
    for axis in (0, 1):
        d = kp[..., axis] - principal[:, None, axis]                      # (N, K)
        a = torch.zeros(points.shape[:2] + (3,), dtype=points.dtype, device=points.device)
        a[..., axis] = focal[:, None]
        a[..., 2] = -d
        rows.append(a * w[..., None])
        rhs.append((d * points[..., 2] - focal[:, None] * points[..., axis]) * w)
    a = torch.cat(rows, 1)
    b = torch.cat(rhs, 1)
    ata = a.transpose(1, 2) @ a + 1e-6 * torch.eye(3, dtype=a.dtype, device=a.device)
    t = torch.linalg.solve(ata, (a.transpose(1, 2) @ b[..., None]))[..., 0]
    t[:, 2] = t[:, 2].clamp(min=min_depth)
    return t
