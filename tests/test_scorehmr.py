"""The ScoreHMR guidance engine: DDIM equivalence, loss gradients, windows, missing detections."""
import math

import pytest
import torch

from backend.body_model import BodyModel
from backend.camera import project
from backend.condition import make_condition
from backend.diffusion import PoseDiffusion, PriorConfig
from backend.geometry import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix
from backend.scorehmr import (HIPS, GuidanceLosses, Observation, ScoreHMR, ScoreHMRConfig, gaussian_smooth, hip_centred,
                              ray_rotation, time_difference)
from smplcore.skeleton import JOINT_INDEX

FOCAL, PRINCIPAL = 1000.0, (640.0, 360.0)


@pytest.fixture(scope="module")
def body():
    return BodyModel.load()


@pytest.fixture(scope="module")
def diffusion():
    torch.manual_seed(0)
    return PoseDiffusion(PriorConfig(hidden=128)).eval()


def facing_camera(n, left_shoulder_z=-1.2):
    """Upright, facing the camera 4 m away, arms down (shoulder rotations about Z)."""
    aa = torch.zeros(n, 24, 3)
    aa[:, JOINT_INDEX["left_shoulder"], 2] = left_shoulder_z
    aa[:, JOINT_INDEX["right_shoulder"], 2] = 1.2
    rot = axis_angle_to_matrix(aa)
    rot[:, 0] = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # SMPL Y-up body -> camera y-down, facing it
    return rot, torch.tensor([0.0, 0.2, 4.0]).expand(n, 3).clone()


def observe(body, rot, trans):
    n = rot.shape[0]
    focal = torch.full((n,), FOCAL)
    principal = torch.tensor(PRINCIPAL).expand(n, 2)
    uv = project(body.landmarks(rot, None, trans), focal, principal)
    kp = torch.cat([uv, torch.ones_like(uv[..., :1])], -1)
    return Observation(kp, focal, principal, make_condition(kp, focal, principal))


def x_of(rot):
    return matrix_to_rot6d(rot).reshape(rot.shape[0], -1)


def test_zero_guidance_is_plain_ddim(body, diffusion):
    rot, trans = facing_camera(3)
    obs = observe(body, rot, trans)
    cfg = ScoreHMRConfig(iterations=1, guidance_scale=0.0, early_stop=0.0)
    engine = ScoreHMR(diffusion, body, cfg)
    x0 = x_of(rot)
    got, _, _ = engine.refine_window(x0, trans, torch.zeros(1, 10), obs)
    # by hand: deterministic DDIM up to tau and back down, conditional epsilon
    c_emb = diffusion.denoiser.embed_condition(obs.condition, 3)
    levels = list(range(0, cfg.tau + 1, cfg.step))
    x = x0
    with torch.no_grad():
        for a, b in list(zip(levels[:-1], levels[1:])) + list(zip(levels[::-1][:-1], levels[::-1][1:])):
            eps = diffusion.denoiser(x, torch.full((3,), a), c_emb=c_emb)
            x = diffusion.ddim_step(x, eps, torch.tensor(a), torch.tensor(b))
    assert torch.allclose(got, x, atol=1e-5)


def _descend(loss_fn, x, steps=20, lr=1e-3):
    x = x.clone().requires_grad_(True)
    for _ in range(steps):
        g, = torch.autograd.grad(loss_fn(x), [x])
        x = (x - lr * g / (g.norm() + 1e-12)).detach().requires_grad_(True)
    return x.detach()


def test_keypoint_loss_pulls_a_lifted_arm_down_to_its_keypoints(body):
    rot_true, trans = facing_camera(1)
    obs = observe(body, rot_true, trans)
    rot_lifted, _ = facing_camera(1, left_shoulder_z=0.0)   # arm horizontal, keypoints say down
    losses = GuidanceLosses(body, torch.zeros(1, 10), obs, ScoreHMRConfig(), temporal=False)
    elbow = JOINT_INDEX["left_elbow"]

    def elbow_error(x):
        j = body.forward_kinematics(rot6d_to_matrix(x.reshape(1, 24, 6)), body.rest_joints(torch.zeros(1, 10)))[1]
        jt = body.forward_kinematics(rot_true, body.rest_joints(torch.zeros(1, 10)))[1]
        return float((j[0, elbow] - jt[0, elbow]).norm())

    x0 = x_of(rot_lifted)
    x1 = _descend(lambda x: losses(x, trans), x0, steps=150, lr=0.02)
    assert elbow_error(x1) < 0.5 * elbow_error(x0)


def mediapipe_world(body, rot, obs, tilt=0.15, scale=0.95):
    """World landmarks as MediaPipe reports them: hip-centred, metres, on a body of its own size,
    tilted against the camera (the bias measured on real footage), in the axes of a camera facing
    the hips with the depth compressed as the default config expects, full confidence."""
    lm = hip_centred(body.landmarks(rot))
    c, s = math.cos(tilt), math.sin(tilt)
    r = torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    reported = scale * lm @ r.T @ ray_rotation(obs.keypoints, obs.focal, obs.principal)
    reported[..., 2] /= ScoreHMRConfig().world_depth_gain
    return torch.cat([reported, torch.ones_like(lm[..., :1])], -1)


def test_world_landmark_loss_pulls_a_lifted_arm_toward_the_evidence(body):
    rot_true, trans = facing_camera(1)
    obs = observe(body, rot_true, trans)
    obs.world = mediapipe_world(body, rot_true, obs)
    rot_lifted, _ = facing_camera(1, left_shoulder_z=0.0)   # arm horizontal, the world landmarks say down
    losses = GuidanceLosses(body, torch.zeros(1, 10), obs, ScoreHMRConfig(keypoints=0.0, world=30.0, world_sigma=0.2), temporal=False)
    rest = body.rest_joints(torch.zeros(1, 10))

    def elbow_in_body_frame(x):   # the evidence says nothing of the global orientation
        rot = rot6d_to_matrix(x.reshape(1, 24, 6))
        joints = body.forward_kinematics(rot, rest)[1][0]
        return (joints[JOINT_INDEX["left_elbow"]] - joints[0]) @ rot[0, 0]

    true_elbow = elbow_in_body_frame(x_of(rot_true))

    def elbow_error(x):
        return float((elbow_in_body_frame(x) - true_elbow).norm())

    x = x_of(rot_lifted)
    start = elbow_error(x)
    for _ in range(5):   # as in ScoreHMR: re-align the evidence to the estimate, then descend
        losses.update_world_alignment(x)
        x = _descend(lambda x: losses(x, trans), x, steps=30, lr=0.02)
    assert elbow_error(x) < 0.3 * start
    # aligned, the tilted and rescaled evidence of the true pose costs nothing at the true pose
    losses.update_world_alignment(x_of(rot_true))
    assert float(losses(x_of(rot_true), trans)) < 1e-6


def test_world_landmarks_are_read_in_the_axes_of_a_camera_facing_the_hips_with_depth_stretched(body):
    rot, trans = facing_camera(1)
    trans = trans + torch.tensor([1.5, 0.0, 0.0])         # far to the side of the optical axis
    obs = observe(body, rot, trans)
    lm = body.landmarks(rot, None, trans)
    ray = torch.nn.functional.normalize(lm[0, list(HIPS)].mean(0), dim=0)
    # what a detector looking along the ray sees: the body in the rotated camera's axes
    r = ray_rotation(obs.keypoints, obs.focal, obs.principal)[0]
    assert torch.allclose(r @ torch.tensor([0.0, 0.0, 1.0]), ray, atol=1e-4)
    obs.world = torch.cat([hip_centred(lm) @ r, torch.ones_like(lm[..., :1])], -1)
    obs.world[..., 2] *= 0.7                                # MediaPipe's compressed depth
    cfg = ScoreHMRConfig(keypoints=0.0, world=30.0, world_align=False, world_depth_gain=1 / 0.7)
    losses = GuidanceLosses(body, torch.zeros(1, 10), obs, cfg, temporal=False)
    assert float(losses(x_of(rot), trans)) < 1e-8


def test_keypoint_loss_moves_the_camera_translation_toward_the_truth(body):
    rot, trans = facing_camera(1)
    obs = observe(body, rot, trans)
    losses = GuidanceLosses(body, torch.zeros(1, 10), obs, ScoreHMRConfig(), temporal=False)
    wrong = trans + torch.tensor([0.3, 0.0, 0.0])
    g, = torch.autograd.grad(losses(x_of(rot), wrong.requires_grad_(True)), [wrong])
    assert g[0, 0] > 0 and abs(g[0, 0]) > abs(g[0, 1])   # descent moves x back toward 0


def test_temporal_terms_smooth_pose_and_translation(body):
    n = 8
    rot, trans = facing_camera(n)
    obs = observe(body, rot, trans)
    cfg = ScoreHMRConfig(keypoints=0.0, foot_contact=0.0)
    losses = GuidanceLosses(body, torch.zeros(1, 10), obs, cfg, temporal=True)
    g = torch.Generator().manual_seed(0)
    x = x_of(rot) + 0.05 * torch.randn((n, 144), generator=g)
    t = (trans + 0.05 * torch.randn((n, 3), generator=g)).requires_grad_(True)
    x = x.requires_grad_(True)
    gx, gt = torch.autograd.grad(losses(x, t), [x, t])
    rough = lambda a, order: float((time_difference(a[None], order) ** 2).sum().detach())  # noqa: E731
    assert rough(x - 1e-5 * gx, cfg.smooth_order) < rough(x, cfg.smooth_order)
    assert rough(t - 1e-3 * gt, 1) < rough(t, 1)


@pytest.mark.parametrize("order", [1, 2])
def test_implicit_smoothing_step_is_the_proximal_minimiser(body, order):
    """smooth_pose_step(x, h) = argmin_y |y - x|^2 / (2h) + smooth_pose(y): the gradient of that
    objective vanishes at its output, per group (two windows in one batch stay independent)."""
    n = 10
    rot, trans = facing_camera(2 * n)
    cfg = ScoreHMRConfig(keypoints=0.0, foot_contact=0.0, smooth_order=order, smooth_pose=400.0)
    losses = GuidanceLosses(body, torch.zeros(1, 10), observe(body, rot, trans), cfg, temporal=True, groups=2)
    x = x_of(rot) + 0.1 * torch.randn((2 * n, 144), generator=torch.Generator().manual_seed(0))
    step = 0.08
    y = losses.smooth_pose_step(x, step).requires_grad_(True)
    objective = ((y - x) ** 2).sum() / (2 * step) + losses(y, trans)
    g, = torch.autograd.grad(objective, [y])
    assert g.abs().max() < 1e-3
    assert float(losses(y.detach(), trans)) < 0.1 * float(losses(x, trans))


def test_implicit_smoothing_keeps_uniform_motion_and_is_stable(body):
    """Order 2 penalises acceleration only: a pose changing at constant speed passes unchanged;
    with a weight where the explicit gradient step would blow up, the implicit one still shrinks noise."""
    n = 24
    rot, trans = facing_camera(n)
    cfg = ScoreHMRConfig(keypoints=0.0, foot_contact=0.0, smooth_order=2, smooth_pose=1e5)
    losses = GuidanceLosses(body, torch.zeros(1, 10), observe(body, rot, trans), cfg, temporal=True)
    ramp = x_of(rot) + torch.linspace(0, 0.2, n)[:, None]
    assert torch.allclose(losses.smooth_pose_step(ramp, 0.08), ramp, atol=1e-4)
    noisy = ramp + 0.05 * torch.randn((n, 144), generator=torch.Generator().manual_seed(1))
    out = losses.smooth_pose_step(noisy, 0.08)
    assert torch.isfinite(out).all() and (out - ramp).abs().mean() < 0.5 * (noisy - ramp).abs().mean()


def test_foot_contact_holds_a_planted_foot(body):
    n = 6
    rot, trans = facing_camera(n)
    obs = observe(body, rot, trans)
    cfg = ScoreHMRConfig(keypoints=0.0, smooth_pose=0.0, smooth_trans=0.0, foot_contact=10.0)
    losses = GuidanceLosses(body, torch.zeros(1, 10), obs, cfg, temporal=True)
    losses.update_contacts(x_of(rot), trans)
    assert losses.contact.sum() > 0, "standing still: feet are planted"
    sliding = trans + torch.linspace(0, 0.05, n)[:, None] * torch.tensor([1.0, 0, 0])  # feet slide 1 cm/frame
    sliding = sliding.requires_grad_(True)
    g, = torch.autograd.grad(losses(x_of(rot), sliding), [sliding])
    assert float(losses(x_of(rot), sliding - 1e-2 * g)) < float(losses(x_of(rot), sliding))


def test_multiview_term_pulls_views_toward_one_body_pose(body):
    rot, trans = facing_camera(2)
    rot_b, _ = facing_camera(1, left_shoulder_z=-0.6)
    rot[1] = rot_b[0]                       # two views of one frame disagree about the left arm
    obs = observe(body, rot, trans)
    cfg = ScoreHMRConfig(keypoints=0.0, multiview=1.0)
    losses = GuidanceLosses(body, torch.zeros(1, 10), obs, cfg, temporal=True, groups=2, groups_are_views=True)
    x = x_of(rot).requires_grad_(True)
    g, = torch.autograd.grad(losses(x, trans), [x])
    gap = lambda a: float((a[0] - a[1]).norm())  # noqa: E731
    assert gap(x - 0.1 * g) < gap(x)


def test_multiview_step_is_the_proximal_minimiser(body):
    """The implicit multi-view step solves argmin_y |y - x|^2 / (2h) + multiview(y) exactly, and with
    an enormous weight it collapses the views' body poses onto their mean (no overshoot)."""
    rot, trans = facing_camera(2)
    rot_b, _ = facing_camera(1, left_shoulder_z=-0.6)
    rot[1] = rot_b[0]
    obs = observe(body, rot, trans)
    x = x_of(rot)
    for weight in (50.0, 1e7):
        cfg = ScoreHMRConfig(keypoints=0.0, multiview=weight)
        losses = GuidanceLosses(body, torch.zeros(1, 10), obs, cfg, temporal=True, groups=2, groups_are_views=True)
        y = losses.multiview_step(x, 0.08).requires_grad_(True)
        g, = torch.autograd.grad(((y - x) ** 2).sum() / (2 * 0.08) + losses(y, trans), [y])
        assert g.abs().max() < 1e-3 * max(1.0, weight / 50)
        assert torch.allclose(y[:, :6], x[:, :6])                     # global orientation stays per view
    assert (y[0, 6:] - y[1, 6:]).abs().max() < 1e-4


def test_windowed_equals_one_window_when_frames_are_independent(body, diffusion):
    n = 40
    rot, trans = facing_camera(n)
    obs = observe(body, rot, trans)
    cfg = ScoreHMRConfig(iterations=2, early_stop=0.0, smooth_pose=0.0, smooth_trans=0.0, foot_contact=0.0,
                         window=16, overlap=4)
    x0 = x_of(rot) + 0.02
    one = ScoreHMR(diffusion, body, ScoreHMRConfig(**{**vars(cfg), "window": 64})).refine_sequence(
        x0, trans, torch.zeros(1, 10), obs)
    many = ScoreHMR(diffusion, body, cfg).refine_sequence(x0, trans, torch.zeros(1, 10), obs)
    assert torch.allclose(one[0], many[0], atol=1e-4) and torch.allclose(one[1], many[1], atol=1e-4)


def test_windowed_temporal_refinement_stays_close_to_one_window(body, diffusion):
    n = 40
    rot, trans = facing_camera(n)
    obs = observe(body, rot, trans)
    cfg = ScoreHMRConfig(iterations=2, early_stop=0.0, window=24, overlap=8)
    x0 = x_of(rot) + 0.02
    one = ScoreHMR(diffusion, body, ScoreHMRConfig(**{**vars(cfg), "window": 64})).refine_sequence(
        x0, trans, torch.zeros(1, 10), obs)
    many = ScoreHMR(diffusion, body, cfg).refine_sequence(x0, trans, torch.zeros(1, 10), obs)
    assert (one[0] - many[0]).abs().mean() < 0.01 and (one[1] - many[1]).norm(dim=-1).max() < 0.02


def with_fixed_frame(body, n, frame):
    """``n`` frames facing the camera, frame ``frame`` fixed by the user to another pose:
    (rot, trans, obs, that pose)."""
    rot, trans = facing_camera(n)
    obs = observe(body, rot, trans)
    target = x_of(facing_camera(1, left_shoulder_z=-0.3)[0])[0]
    obs.fixed_x = {frame: target}
    return rot, trans, obs, target


def test_fixed_frames_come_out_exactly_as_given(body, diffusion):
    rot, trans, obs, target = with_fixed_frame(body, 12, 5)
    x, t = ScoreHMR(diffusion, body, ScoreHMRConfig(iterations=2)).refine_sequence(x_of(rot), trans, torch.zeros(1, 10), obs)
    assert torch.equal(x[5], target) and torch.allclose(t[5], trans[5])


def test_gaussian_smooth_keeps_steady_values_and_ignores_invalid_frames():
    x = torch.full((20, 3), 2.0)
    x[7] = 1e6                                   # an invalid frame's value must not leak
    valid = torch.ones(20, dtype=torch.bool)
    valid[7] = False
    y = gaussian_smooth(x, 1.5, valid)
    assert torch.allclose(y, torch.full((20, 3), 2.0))   # ends and the gap included
    ramp = torch.arange(20.0)[:, None]
    assert torch.allclose(gaussian_smooth(ramp, 1.5)[5:15], ramp[5:15], atol=1e-5)  # a steady motion stays


def test_output_smoothing_removes_jitter_and_keeps_fixed_frames(body, diffusion):
    n = 30
    rot, trans, obs, target = with_fixed_frame(body, n, 12)
    jitter = torch.zeros(n, 144)
    jitter[::2, 6 * JOINT_INDEX["left_elbow"]] = 0.15   # every other frame: the elbow flicks
    cfg = ScoreHMRConfig(iterations=1, early_stop=0.0, smooth_pose=0.0)   # only the output filter smooths
    runs = {s: ScoreHMR(diffusion, body, ScoreHMRConfig(**{**vars(cfg), "output_smooth": s})).refine_sequence(
        x_of(rot) + jitter, trans, torch.zeros(1, 10), obs) for s in (0.0, 0.05)}
    accel = {s: time_difference(x[None], 2).abs().mean() for s, (x, _) in runs.items()}
    assert accel[0.05] < 0.5 * accel[0.0]
    assert torch.equal(runs[0.05][0][12], target)
