"""Fit the body model to a clip of another skeleton's joint positions (batched IK in torch).

Per clip: betas and a small constant offset per matched point are shared over all frames;
per frame: 24 joint rotations (6D) and the root translation. All frames are optimised in one
batch with Adam, from a root found by a rigid fit of the torso points and limbs bent in the
plane of their source points. Source joints never sit exactly where the body model's joints are (different
rigs put hips, spine and neck in different places), so each source point is matched to one
body-model joint plus an offset in that joint's frame; the offset starts at a prior
(e.g. "head top is ~12 cm above the head joint") and may move a few cm to absorb the rig
difference. Unobserved twists (forearm roll, head roll...) are held by a weak pull to the
rest pose; knees and elbows are kept close to hinges that do not hyperextend.
"""
from dataclasses import dataclass

import numpy as np
import torch

from backend.device import cpu_threads
from backend.geometry import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d, rot6d_to_matrix
from smplcore.skeleton import JOINT_INDEX, NUM_JOINTS

TORSO = ("pelvis", "left_hip", "right_hip", "spine1", "spine2", "spine3", "neck",
         "left_collar", "right_collar", "left_shoulder", "right_shoulder")
KNEES = (JOINT_INDEX["left_knee"], JOINT_INDEX["right_knee"])
# joints whose rotation moves at most a short offset point: little data, so a firmer pull to rest
LEAVES = tuple(JOINT_INDEX[n] for n in ("left_foot", "right_foot", "head", "left_hand", "right_hand"))
ELBOWS = (JOINT_INDEX["left_elbow"], JOINT_INDEX["right_elbow"])


@dataclass(frozen=True)
class Target:
    """A source point matched to a body-model joint (+ an offset in that joint's rest frame, m)."""
    source: str
    joint: str
    weight: float = 1.0
    offset: tuple = (0.0, 0.0, 0.0)


@dataclass
class FitWeights:
    pose: float = 0.02        # pull of non-root joints to rest (per joint, ~2 rad^2 per rad^2)
    leaf_pose: float = 1.0    # the same for LEAVES
    hinge: float = 20.0       # knees/elbows off their hinge axis
    hyperextension: float = 20.0
    smooth: float = 0.05      # joint acceleration, cm/frame^2 squared
    betas: float = 0.02
    offset: float = 0.3       # per cm^2 of offset moved away from its prior


@dataclass
class FitResult:
    poses: np.ndarray        # (T, 72) axis-angle
    trans: np.ndarray        # (T, 3)
    betas: np.ndarray        # (10,)
    offsets: np.ndarray      # (K, 3) final offsets
    error_mm: float          # mean per-point position error over the matched points
    point_error_mm: np.ndarray  # (K,) per matched point


def _kabsch(src, dst, w):
    """Rotations R (T,3,3) minimising sum w |R src - dst|^2 for centred src (K,3), dst (T,K,3)."""
    h = torch.einsum("k,ki,tkj->tij", w, src, dst)
    u, _, vt = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(vt.transpose(1, 2) @ u.transpose(1, 2)))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return vt.transpose(1, 2) @ fix @ u.transpose(1, 2)


def _root_init(rest_points, targets, weights, torso_mask, pelvis):
    """Global orientation and translation per frame from a rigid fit of the torso points."""
    w = weights * torso_mask if int(torso_mask.sum()) >= 3 else weights
    src_c = (w[:, None] * rest_points).sum(0) / w.sum()
    dst_c = (w[None, :, None] * targets).sum(1) / w.sum()
    rot = _kabsch(rest_points - src_c, targets - dst_c[:, None], w)
    trans = dst_c - (rot @ (src_c - pelvis)) - pelvis
    return rot, trans


# (upper joint, hinge joint, end joint, hinge axis in the rest frame with flexion positive)
LIMBS = (("left_hip", "left_knee", "left_ankle", (1.0, 0.0, 0.0)),
         ("right_hip", "right_knee", "right_ankle", (1.0, 0.0, 0.0)),
         ("left_shoulder", "left_elbow", "left_wrist", (0.0, -1.0, 0.0)),
         ("right_shoulder", "right_elbow", "right_wrist", (0.0, 1.0, 0.0)))


def _frame(a, b):
    """Orthonormal frames (..., 3, 3) with first axis along a, a-b plane as the second."""
    e1 = torch.nn.functional.normalize(a, dim=-1)
    e3 = torch.nn.functional.normalize(torch.cross(a, b, dim=-1), dim=-1)
    return torch.stack([e1, torch.cross(e3, e1, dim=-1), e3], -1)


def _limb_init(rot, pos, targets, rest):
    """Start each leg and arm as a bent hinge in the plane of its source points: the upper
    joint aims the limb, the hinge joint bends by the source's angle. Gradient descent from a
    straight T-pose limb can otherwise settle with a hip twisted 180 deg and the knee bent
    backwards. Spine and collars start at rest, so the limb's parent frame is the root's."""
    index = {t.joint: k for k, t in enumerate(targets)}
    for upper, hinge, end, axis in LIMBS:
        if not all(j in index for j in (upper, hinge, end)):
            continue
        a, b, c = (pos[:, index[j]] for j in (upper, hinge, end))
        u = (rot[:, 0].transpose(1, 2) @ (b - a)[..., None])[..., 0]        # in the root frame
        v = (rot[:, 0].transpose(1, 2) @ (c - b)[..., None])[..., 0]
        d1 = rest[JOINT_INDEX[hinge]] - rest[JOINT_INDEX[upper]]
        d2 = rest[JOINT_INDEX[end]] - rest[JOINT_INDEX[hinge]]
        cos = (torch.nn.functional.normalize(u, dim=-1) * torch.nn.functional.normalize(v, dim=-1)).sum(-1)
        angle = torch.acos(cos.clamp(-1, 1)) - torch.acos(
            torch.nn.functional.normalize(d1, dim=0) @ torch.nn.functional.normalize(d2, dim=0))
        bend = axis_angle_to_matrix(torch.tensor(axis, dtype=rot.dtype) * angle[:, None])
        bent_d2 = (bend @ d2[:, None])[..., 0]
        straight = angle.abs() < 0.15                   # bend plane undefined: just aim the limb
        d1n, un = torch.nn.functional.normalize(d1, dim=0), torch.nn.functional.normalize(u, dim=-1)
        swing = torch.cross(d1n.expand_as(un), un, dim=-1)
        aim = axis_angle_to_matrix(torch.nn.functional.normalize(swing, dim=-1)
                                   * torch.atan2(swing.norm(dim=-1), un @ d1n)[:, None])
        upper_rot = _frame(u, v) @ _frame(d1.expand_as(bent_d2), bent_d2).transpose(1, 2)
        rot[:, JOINT_INDEX[upper]] = torch.where(straight[:, None, None], aim, upper_rot)
        rot[:, JOINT_INDEX[hinge]] = torch.where(straight[:, None, None], rot[:, JOINT_INDEX[hinge]], bend)


def _points(model, rotmats, betas, trans, joint_ids, offsets):
    rest = model.rest_joints(betas)
    world_r, world_j = model.forward_kinematics(rotmats, rest)
    pts = world_j[:, joint_ids] + (world_r[:, joint_ids] @ offsets[None, :, :, None])[..., 0]
    return pts + trans[:, None], world_j + trans[:, None]


def fit_clip(model, positions, targets, iters=400, weights=FitWeights(), lr=0.03):
    """positions (T, K, 3) metres in a Y-up world, one column per ``targets`` entry."""
    # the graph is hundreds of small ops: one thread is faster than two fighting over them
    with cpu_threads(1):
        return _fit(model, positions, targets, iters, weights, lr)


def _fit(model, positions, targets, iters, weights, lr):
    dtype = torch.float32
    pos = torch.as_tensor(np.asarray(positions), dtype=dtype)
    n = pos.shape[0]
    joint_ids = torch.tensor([JOINT_INDEX[t.joint] for t in targets])
    w = torch.tensor([t.weight for t in targets], dtype=dtype)
    prior_off = torch.tensor([t.offset for t in targets], dtype=dtype)
    torso = torch.tensor([t.joint in TORSO for t in targets], dtype=dtype)

    betas = torch.zeros(1, model.num_betas, dtype=dtype)
    with torch.no_grad():
        rest = model.rest_joints(betas)[0]
        rot = torch.eye(3, dtype=dtype).repeat(n, NUM_JOINTS, 1, 1)
        rot[:, 0], trans = _root_init(rest[joint_ids] + prior_off, pos, w, torso, rest[0])
        _limb_init(rot, pos, targets, rest)
    r6 = matrix_to_rot6d(rot).clone().requires_grad_(True)
    trans = trans.clone().requires_grad_(True)
    offsets = prior_off.clone().requires_grad_(True)
    betas.requires_grad_(True)
    opt = torch.optim.Adam([r6, trans, offsets, betas], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters, eta_min=lr * 0.05)
    eye = torch.eye(3, dtype=dtype)
    wsum = w.sum()

    def loss_fn():
        rotmats = rot6d_to_matrix(r6)
        pts, joints = _points(model, rotmats, betas, trans, joint_ids, offsets)
        data = (w * ((pts - pos) * 100).pow(2).sum(-1)).sum(-1).mean() / wsum   # cm^2
        pose = (rotmats[:, 1:] - eye).pow(2).sum((-1, -2)).mean(0).sum()
        leaf = (rotmats[:, list(LEAVES)] - eye).pow(2).sum((-1, -2)).mean(0).sum()
        knees, elbows = rotmats[:, list(KNEES)], rotmats[:, list(ELBOWS)]
        hinge = (knees[..., :, 0] - eye[:, 0]).pow(2).sum(-1).mean() + \
            (elbows[..., :, 1] - eye[:, 1]).pow(2).sum(-1).mean()
        # knee flexion is +X; left elbow flexion is -Y, right elbow +Y (forearm forward)
        knee_flex = torch.atan2(knees[..., 2, 1], knees[..., 1, 1])
        elbow_flex = torch.atan2(elbows[..., 0, 2], elbows[..., 0, 0])
        hyper = torch.relu(-knee_flex).pow(2).mean() + torch.relu(elbow_flex[:, 0]).pow(2).mean() + \
            torch.relu(-elbow_flex[:, 1]).pow(2).mean()
        acc = ((joints[2:] - 2 * joints[1:-1] + joints[:-2]) * 100).pow(2).sum(-1).mean() if n > 2 else 0.0
        off = ((offsets - prior_off) * 100).pow(2).sum(-1).mean()
        return data + weights.pose * pose + weights.leaf_pose * leaf + weights.hinge * hinge \
            + weights.hyperextension * hyper + weights.smooth * acc + weights.betas * betas.pow(2).sum() \
            + weights.offset * off

    for _ in range(iters):
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()
        sched.step()

    with torch.no_grad():
        rotmats = rot6d_to_matrix(r6)
        pts, _ = _points(model, rotmats, betas, trans, joint_ids, offsets)
        err = torch.linalg.norm(pts - pos, dim=-1) * 1000          # (T, K) mm
        point_err = err.mean(0)
        error = float(point_err.mean())
        poses = matrix_to_axis_angle(rotmats).reshape(n, NUM_JOINTS * 3)
    return FitResult(poses.numpy(), trans.detach().numpy(), betas.detach()[0].numpy(),
                     offsets.detach().numpy(), error, point_err.numpy())


def fit_betas_to_joints(model, rotmats, joints):
    """Betas and per-frame translations placing the body model's joints, posed by ``rotmats``
    (T, 24, 3, 3) as given, closest to ``joints`` (T, 24, 3). Posed joints are linear in betas
    for fixed rotations, so this is a linear least-squares problem (no iterations).

    Returns betas (10,), trans (T, 3), mean joint error in mm."""
    rot = torch.as_tensor(rotmats, dtype=torch.float64)
    target = torch.as_tensor(joints, dtype=torch.float64)
    with torch.no_grad():
        basis = torch.cat([torch.zeros(1, model.num_betas), torch.eye(model.num_betas)]).to(model.v_template)
        rest = model.rest_joints(basis).double()                              # (1 + B, 24, 3)
        posed = torch.stack([model.forward_kinematics(rot, r[None])[1] for r in rest])  # (1+B, T, 24, 3)
    base, dirs = posed[0], posed[1:] - posed[:1]
    # a free translation per frame: compare frame-centred joints
    centre = lambda x: x - x.mean(-2, keepdim=True)                         # noqa: E731
    a = centre(dirs).reshape(model.num_betas, -1).T
    b = (centre(target) - centre(base)).reshape(-1, 1)
    betas = torch.linalg.lstsq(a, b).solution[:, 0]
    fitted = base + torch.einsum("b,btjc->tjc", betas, dirs)
    trans = (target - fitted).mean(-2)
    error = torch.linalg.norm(fitted + trans[:, None] - target, dim=-1).mean() * 1000
    return betas.float().numpy(), trans.numpy(), float(error)
