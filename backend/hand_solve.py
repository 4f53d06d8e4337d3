"""Finger rotations from MediaPipe's 21 hand landmarks, on the SMPL-H hands of the body model.

Over all frames where a hand was found, both hands at once: the model hand (global hand rotation +
15 finger joints in anatomical flexion/abduction/twist) is fitted to the landmarks lifted to
3D by MediaPipe's relative depth (x, y in pixels, depth in the same pixel scale), up to a
per-frame scale and offset solved in closed form (weak perspective: a hand is small next to
its distance). Joint limits per finger joint, a pull towards the body solve's wrist rotation
and temporal smoothing between consecutive found frames of one hand are penalties; all frames of
both hands are one batch (80 Adam steps in all: on rendered hands 50, 80 and 150 steps gave the
same fingertip error, within 0.1 mm). The fitted hand rotation replaces the body's wrist rotation
on those frames, so body and fingers agree.
"""
import numpy as np
import torch

from smplcore.skeleton import JOINT_INDEX, NUM_JOINTS

from .device import cpu_threads
from .geometry import axis_angle_to_matrix, matrix_to_axis_angle
from .hand_model import SIDES, HandModel

DEPTH_WEIGHT = 0.5       # MediaPipe's relative depth is less certain than x, y
LIMIT_WEIGHT = 20.0
FLAT_WEIGHT = 0.002      # keeps directions the landmarks do not see near a flat hand
WRIST_WEIGHT = 0.02      # pull of the body solve's wrist rotation (radians²)
SMOOTH_WEIGHT = 0.05     # per frame step, radians² (finger angles and hand rotation)
STEPS = 80
_PALM = [0, 1, 5, 9, 13, 17]  # wrist, thumb base, four knuckles: a rigid set for the first guess


def _kabsch(src, dst, w):
    """Rotations (N, 3, 3) best taking centred ``src`` onto ``dst`` (N, K, 3), weights (N, K)."""
    w = w[..., None]
    sc = src - (w * src).sum(1, keepdim=True) / w.sum(1, keepdim=True)
    dc = dst - (w * dst).sum(1, keepdim=True) / w.sum(1, keepdim=True)
    u, _, vt = torch.linalg.svd((w * dc).transpose(1, 2) @ sc)
    d = torch.sign(torch.det(u @ vt))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return u @ fix @ vt


class _Adam:
    """torch.optim.Adam's update (default betas and eps), written out: the first step of
    torch.optim.Adam imports torch._dynamo, about 2 s of CPU in a fresh backend process."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.steps = params, lr, betas, eps, 0
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.steps += 1
        (b1, b2), t = self.betas, self.steps
        for p, (mean, square) in zip(self.params, self.moments):
            mean.lerp_(p.grad, 1 - b1)
            square.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (square.sqrt() / (1 - b2 ** t) ** 0.5).add_(self.eps)
            p.addcdiv_(mean, denom, value=-self.lr / (1 - b1 ** t))


def fit_hand(hand, observed, conf, body_wrist, linked=None, steps=STEPS):
    """One hand over N frames, all fitted at once.

    observed (N, 21, 3) x, y, depth in pixels; conf (N, 21); body_wrist (N, 3, 3) the body's
    wrist rotation (camera frame); linked (N - 1,) bool: frame i + 1 follows frame i in the video
    (smoothed together; default all). Returns finger axis-angle (N, 15, 3), hand rotation
    (N, 3, 3) and the final mean image residual in pixels per frame."""
    with cpu_threads(1):  # tensors of a few thousand numbers: more threads only contend (4x slower)
        return _fit_hand(hand, observed, conf, body_wrist, linked, steps)


def _fit_hand(hand, observed, conf, body_wrist, linked, steps):
    dtype = torch.float32
    observed = torch.as_tensor(observed, dtype=dtype)
    conf = torch.as_tensor(conf, dtype=dtype).clamp_min(0.0) + 1e-6
    body_wrist = torch.as_tensor(body_wrist, dtype=dtype)
    n = observed.shape[0]
    # first guess of the hand rotation: the flat model palm onto the observed palm
    flat = hand.points(torch.eye(3, dtype=dtype).expand(n, 3, 3), torch.zeros(n, 15, 3, dtype=dtype))
    start = _kabsch(flat[:, _PALM], observed[:, _PALM], conf[:, _PALM])
    delta = matrix_to_axis_angle(body_wrist.transpose(1, 2) @ start).clone().requires_grad_(True)
    anat = torch.zeros(n, 15, 3, dtype=dtype, requires_grad=True)
    optimiser = _Adam([delta, anat], lr=0.05)
    link = torch.ones(max(n - 1, 0), dtype=dtype) if linked is None else torch.as_tensor(linked, dtype=dtype)
    weights = conf / conf.sum(1, keepdim=True)
    axis_w = torch.tensor([1.0, 1.0, DEPTH_WEIGHT], dtype=dtype)
    centred_obs = observed - (weights[..., None] * observed).sum(1, keepdim=True)
    size = ((weights[..., None] * centred_obs[..., :2] ** 2).sum((1, 2))).sqrt().clamp_min(1.0)

    def residuals():
        rotation = body_wrist @ axis_angle_to_matrix(delta)
        pts = hand.points(rotation, hand.to_axis_angle(anat))
        centred = pts - (weights[..., None] * pts).sum(1, keepdim=True)
        scale = (weights * (centred[..., :2] * centred_obs[..., :2]).sum(-1)).sum(1) \
            / (weights * (centred[..., :2] ** 2).sum(-1)).sum(1).clamp_min(1e-9)
        return scale[:, None, None] * centred - centred_obs, rotation

    for _ in range(steps):
        optimiser.zero_grad()
        res, rotation = residuals()
        data = (weights * (res ** 2 * axis_w).sum(-1)).sum(1) / size ** 2
        loss = data.sum() + LIMIT_WEIGHT * (hand.limit_violation(anat) ** 2).sum() \
            + FLAT_WEIGHT * (anat ** 2).sum() + WRIST_WEIGHT * (delta ** 2).sum()
        if n > 1:
            loss = loss + SMOOTH_WEIGHT * (link * (((anat[1:] - anat[:-1]) ** 2).sum((1, 2))
                                                   + ((rotation[1:] - rotation[:-1]) ** 2).sum((1, 2)))).sum()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        res, rotation = residuals()
        anat_c = torch.minimum(torch.maximum(anat, hand.lower), hand.upper)
        error = (res[..., :2].norm(dim=-1) * weights).sum(1)
        return hand.to_axis_angle(anat_c).numpy(), rotation.numpy(), error.numpy()


def solve_hands(hands, poses, betas, body_model, smplh_path=None):
    """Fingers for a solved body sequence.

    hands: ``hand_detect.HandDetections`` on the result's frames; poses (T, 72) camera-frame
    axis-angle; betas (10,); body_model: the ``BodyModel`` the body was solved on. Returns
    ``(hand_poses (T, 90), hand_valid (T, 2), poses (T, 72))``: the body poses with the wrists
    turned to the fitted hands (and SMPL's rigid hand joints straight) where a hand was found."""
    poses = np.asarray(poses, np.float32).copy()
    t = poses.shape[0]
    model = HandModel(smplh_path, betas)
    with torch.no_grad():
        rotmats = axis_angle_to_matrix(torch.as_tensor(poses).reshape(t, NUM_JOINTS, 3))
        rest = body_model.rest_joints(torch.as_tensor(np.asarray(betas, np.float32))[None])
        world_r, _ = body_model.forward_kinematics(rotmats.to(body_model.device), rest)
        world_r = world_r.cpu()
    hand_poses = np.zeros((t, 2, 15, 3), np.float32)
    hand_valid = np.asarray(hands.found, bool).copy()
    seen = [np.flatnonzero(hand_valid[:, h]) for h in range(2)]
    if not hand_valid.any():
        return hand_poses.reshape(t, 90), hand_valid, poses
    # every frame of both hands in one fit; smoothing only across consecutive frames of one hand
    frames = np.concatenate(seen)
    which = np.concatenate([np.full(len(rows), h) for h, rows in enumerate(seen)])
    wrists = np.array([JOINT_INDEX[f"{side}_wrist"] for side in SIDES])
    observed = np.concatenate([hands.keypoints[frames, which, :, :2], hands.depth[frames, which, :, None]], -1)
    linked = (np.diff(frames) == 1) & (np.diff(which) == 0)
    aa, rotation, _ = fit_hand(model.per_frame([SIDES[h] for h in which]), observed, hands.keypoints[frames, which, :, 2],
                               world_r[frames, wrists[which]], linked=linked)
    hand_poses[frames, which] = aa
    # the wrist's local rotation that gives the fitted hand rotation under the body's elbow
    parent = world_r[frames, np.array(body_model.parents)[wrists[which]]]
    local = matrix_to_axis_angle(parent.transpose(1, 2) @ torch.as_tensor(rotation)).numpy()
    for h, side in enumerate(SIDES):
        rows = which == h
        wrist, mitt = JOINT_INDEX[f"{side}_wrist"], JOINT_INDEX[f"{side}_hand"]
        poses[frames[rows], 3 * wrist:3 * wrist + 3] = local[rows]
        poses[frames[rows], 3 * mitt:3 * mitt + 3] = 0.0
    return hand_poses.reshape(t, 90), hand_valid, poses
