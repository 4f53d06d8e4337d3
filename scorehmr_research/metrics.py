"""Accuracy measures used by the benchmarks (DESIGN §7). Joints in metres in, millimetres out."""
import torch

from backend.condition import VISIBLE


def mpjpe(pred, true):
    """Mean per-joint position error after aligning the pelvis (N, J, 3) -> mm."""
    pred = pred - pred[:, :1]
    true = true - true[:, :1]
    return float((pred - true).norm(dim=-1).mean() * 1000)


def procrustes_align(pred, true):
    """Similarity transform (scale, rotation, translation) of pred onto true, per frame."""
    mu_p, mu_t = pred.mean(1, keepdim=True), true.mean(1, keepdim=True)
    p, t = pred - mu_p, true - mu_t
    u, s, vh = torch.linalg.svd(p.transpose(1, 2) @ t)
    d = torch.sign(torch.linalg.det(u @ vh))
    fix = torch.ones_like(s)
    fix[:, -1] = d
    rot = u @ torch.diag_embed(fix) @ vh
    scale = (s * fix).sum(1) / (p ** 2).sum((1, 2))
    return scale[:, None, None] * p @ rot + mu_t


def pa_mpjpe(pred, true):
    return float((procrustes_align(pred, true) - true).norm(dim=-1).mean() * 1000)


def acceleration_error(pred, true):
    """Mean |second difference| error, pelvis-aligned, mm/frame^2 (needs >= 3 frames)."""
    pred = pred - pred[:, :1]
    true = true - true[:, :1]
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_t = true[2:] - 2 * true[1:-1] + true[:-2]
    return float((acc_p - acc_t).norm(dim=-1).mean() * 1000)


def foot_sliding(pred_world, contact):
    """Mean displacement (mm/frame) of feet that the ground truth says are planted.
    pred_world (N, F, 3) foot positions with translation; contact (N-1, F) bool."""
    step = (pred_world[1:] - pred_world[:-1]).norm(dim=-1)
    if contact.sum() == 0:
        return 0.0
    return float(step[contact].mean() * 1000)


def true_contacts(feet_world, up, fps, speed=0.25, height=0.04):
    """Ground-truth foot contacts: slow (< speed m/s) and near the lowest point along ``up``."""
    h = feet_world @ up
    v = (feet_world[1:] - feet_world[:-1]).norm(dim=-1) * fps
    low = h < h.amin(0, keepdim=True) + height
    return (v < speed) & low[1:] & low[:-1]


def reprojection_px(uv, keypoints, min_conf=VISIBLE):
    """Mean 2D distance (px) to the detections that are confident."""
    mask = keypoints[..., 2] > min_conf
    return float((uv - keypoints[..., :2]).norm(dim=-1)[mask].mean())
