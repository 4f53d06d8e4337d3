"""Perspective camera helpers: projection, and the closed-form translation that best places a
posed body in front of the camera given its 2D landmarks."""
import torch

def project(points: torch.Tensor, focal, principal) -> torch.Tensor:
    """(…, K, 3) camera-frame points -> (…, K, 2) pixels."""
    z = points[..., 2:3].clamp(min=1e-3)
    return focal[..., None, None] * points[..., :2] / z + principal[..., None, :]


def solve_translation(points: torch.Tensor, kp: torch.Tensor, focal, principal, min_depth=0.5,
                      smooth=0.0, groups=1) -> torch.Tensor:
    """Translation t (N, 3) minimising the confidence-weighted linearised reprojection error of
    points + t (N, K, 3) against kp (N, K, 3: pixels + confidence):
    (u - c)(Z + t_z) = f (X + t_x), the same for y — linear in t, solved exactly.

    With ``smooth`` > 0 the rows are ``groups`` time lines (group-major) and
    smooth * sum |t_n - t_(n-1)|^2 (relative to the typical data term) is added: still linear,
    a block-tridiagonal system solved exactly; frames without detections are bridged."""
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
    eye = torch.eye(3, dtype=a.dtype, device=a.device)
    ata = a.transpose(1, 2) @ a + 1e-6 * eye
    atb = (a.transpose(1, 2) @ b[..., None])[..., 0]
    if smooth > 0 and n // groups > 1:
        t = _smooth_solve(ata.reshape(groups, -1, 3, 3), atb.reshape(groups, -1, 3), smooth).reshape(n, 3)
    else:
        t = torch.linalg.solve(ata, atb[..., None])[..., 0]
    t[:, 2] = t[:, 2].clamp(min=min_depth)
    return t


def _smooth_solve(m, r, smooth):
    """Block Thomas algorithm for (M_n + lam * deg_n) t_n - lam (t_(n-1) + t_(n+1)) = r_n,
    batched over groups: m (G, T, 3, 3), r (G, T, 3)."""
    g, length = r.shape[:2]
    eye = torch.eye(3, dtype=m.dtype, device=m.device)
    scale = torch.diagonal(m, dim1=-2, dim2=-1).sum(-1).median(dim=1).values / 3       # (G,)
    lam = (smooth * scale)[:, None, None]
    deg = torch.full((length,), 2.0, dtype=m.dtype, device=m.device)
    deg[0] = deg[-1] = 1.0
    c_prime, d_prime = [], []
    for i in range(length):
        denom = m[:, i] + lam * deg[i] * eye
        rhs = r[:, i]
        if i > 0:
            denom = denom - lam * c_prime[-1]
            rhs = rhs + lam[..., 0] * d_prime[-1]
        inv = torch.linalg.inv(denom)
        c_prime.append(inv * lam)                                  # inv @ (lam I)
        d_prime.append((inv @ rhs[..., None])[..., 0])
    t = [d_prime[-1]]
    for i in range(length - 2, -1, -1):
        t.append(d_prime[i] + (c_prime[i] @ t[-1][..., None])[..., 0])
    return torch.stack(t[::-1], dim=1)
