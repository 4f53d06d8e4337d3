"""Perspective camera helpers: projection, and the closed-form translation that best places a
posed body in front of the camera given its 2D landmarks."""
import torch

HOLD_WEIGHT = 1e4   # a held row's pull, relative to the largest data term (float32 keeps ~7 digits)


def project(points: torch.Tensor, focal, principal) -> torch.Tensor:
    """(…, K, 3) camera-frame points -> (…, K, 2) pixels."""
    z = points[..., 2:3].clamp(min=1e-3)
    return focal[..., None, None] * points[..., :2] / z + principal[..., None, :]


def solve_translation(points: torch.Tensor, kp: torch.Tensor, focal, principal, min_depth=0.5,
                      smooth=0.0, groups=1, plane=None, steps=None, hold=None) -> torch.Tensor:
    """Translation t (N, 3) minimising the confidence-weighted linearised reprojection error of
    points + t (N, K, 3) against kp (N, K, 3: pixels + confidence):
    (u - c)(Z + t_z) = f (X + t_x), the same for y — linear in t, solved exactly.

    With ``smooth`` > 0 the rows are ``groups`` time lines (group-major) and
    smooth * sum |t_n - t_(n-1)|^2 (relative to the typical data term) is added: still linear,
    a block-tridiagonal system solved exactly; frames without detections are bridged.

    With ``plane = (normal (3,), target (N,), weight (N,))`` the rows also pull
    normal . t toward target (e.g. planted feet onto the floor), weight relative to each frame's
    own data term: the floor then fixes the depth the 2D landmarks leave loose. With
    ``steps = (weight (N,), offset (N, 3))`` (temporal only) the rows also pull t_n - t_(n-1)
    toward offset_n (a planted foot stays put), weight relative to the typical data term.
    With ``hold = (rows (M,), values (M, 3))`` those rows keep the given translation inside the
    solve (as hard constraints), so with smoothing their neighbours continue from them."""
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
    if plane is not None:
        normal, target, weight = (torch.as_tensor(v, dtype=a.dtype, device=a.device) for v in plane)
        weight = weight * torch.diagonal(ata, dim1=-2, dim2=-1).sum(-1) / 3
        ata = ata + weight[:, None, None] * torch.outer(normal, normal)
        atb = atb + (weight * target)[:, None] * normal
    if hold is not None and len(hold[0]):
        rows, values = hold
        big = HOLD_WEIGHT * torch.diagonal(ata, dim1=-2, dim2=-1).sum(-1).max()
        ata[rows] = ata[rows] + big * eye
        atb[rows] = atb[rows] + big * values.to(atb)
    if (smooth > 0 or steps is not None) and n // groups > 1:
        length = n // groups
        weight = torch.full((groups, length), float(smooth), dtype=a.dtype, device=a.device)
        offset = torch.zeros(groups, length, 3, dtype=a.dtype, device=a.device)
        if steps is not None:
            w_step, o_step = (torch.as_tensor(v, dtype=a.dtype, device=a.device) for v in steps)
            w_step = w_step.reshape(groups, length)
            offset = w_step[..., None] * o_step.reshape(groups, length, 3) / (weight + w_step).clamp(min=1e-12)[..., None]
            weight = weight + w_step
        t = _smooth_solve(ata.reshape(groups, -1, 3, 3), atb.reshape(groups, -1, 3), weight[:, 1:],
                          offset[:, 1:]).reshape(n, 3)
    else:
        t = torch.linalg.solve(ata, atb[..., None])[..., 0]
    t[:, 2] = t[:, 2].clamp(min=min_depth)
    return t


def _smooth_solve(m, r, edge_weight, edge_offset):
    """Block Thomas algorithm for M_n t_n + sum over the edges e = (n-1, n) of
    lam_e |t_n - t_(n-1) - o_e|^2, batched over groups: m (G, T, 3, 3), r (G, T, 3), edge
    weights (G, T-1) relative to the typical data term, offsets (G, T-1, 3)."""
    g, length = r.shape[:2]
    eye = torch.eye(3, dtype=m.dtype, device=m.device)
    scale = torch.diagonal(m, dim1=-2, dim2=-1).sum(-1).median(dim=1).values / 3       # (G,)
    lam = edge_weight * scale[:, None]                                                   # (G, T-1)
    zero = lam.new_zeros(g, 1)
    before, after = torch.cat([zero, lam], 1), torch.cat([lam, zero], 1)                 # (G, T)
    push = lam[..., None] * edge_offset                                                  # (G, T-1, 3)
    r = r + torch.cat([zero[..., None].expand(g, 1, 3), push], 1) - torch.cat([push, zero[..., None].expand(g, 1, 3)], 1)
    c_prime, d_prime = [], []
    for i in range(length):
        denom = m[:, i] + (before[:, i] + after[:, i])[:, None, None] * eye
        rhs = r[:, i]
        if i > 0:
            denom = denom - before[:, i, None, None] * c_prime[-1]
            rhs = rhs + before[:, i, None] * d_prime[-1]
        inv = torch.linalg.inv(denom)
        c_prime.append(inv * after[:, i, None, None])              # inv @ (lam_(n, n+1) I)
        d_prime.append((inv @ rhs[..., None])[..., 0])
    t = [d_prime[-1]]
    for i in range(length - 2, -1, -1):
        t.append(d_prime[i] + (c_prime[i] @ t[-1][..., None])[..., 0])
    return torch.stack(t[::-1], dim=1)
