"""From 2D landmarks of one person track to SMPL motion: initial estimate, then temporal ScoreHMR.

solve_sequence: per-frame initial estimates (learned estimator + closed-form camera
translation), betas shared over the track, missing frames bridged from their neighbours,
then temporal ScoreHMR in overlapping windows.
refine_range: re-solve a frame range of an existing result, continuous with its neighbours
(a margin of frames on each side is held fixed) and through any user-fixed poses.
"""
import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import torch

from .camera import project, solve_translation
from .condition import make_condition, observed, world_features
from .device import cpu_threads
from .errors import BackendError
from .geometry import axis_angle_to_rot6d, rot6d_to_axis_angle, rot6d_to_matrix
from . import world
from .job import JobContext
from .models import Models, load_models
from .scorehmr import GuidanceLosses, Observation, ScoreHMR, ScoreHMRConfig

log = logging.getLogger(__name__)
MAX_GROUNDED_REPROJECTION = 1.6  # grounded motion may fit the 2D landmarks this much worse. Training, since the
# output smoothing: synthetic views 0.97-1.17 (wrong floors too, up to 15 deg); rendered views 0.88-1.53, where
# 1.25 refused 6 of 14 floors (short walks seen at 4-8 px, 1.6-9.7 deg off, mean 4.3) and kept floors 5.3 deg
# off on average: the ratio does not tell wrong floors here. Wave 3: a 19 deg wrong synthetic floor at 1.82
SEAM_MARGIN = 8       # frames held fixed on each side of a refined range
def transfer_betas(src, betas, dst):
    """Betas on ``dst`` whose rest skeleton best matches ``src``'s for ``betas`` (linear least
    squares on the 24 rest joints); identity when both are the same model."""
    if src.model_id == dst.model_id:
        return betas
    target = src.rest_joints(betas[None])[0] - dst.joint_template
    a = dst.joint_dirs.reshape(-1, dst.num_betas)
    return torch.linalg.lstsq(a, target.reshape(-1, 1)).solution[:, 0]


def _bridge(x, seen):
    """Fill unobserved frames by linear interpolation (6D and translation) between the nearest
    observed frames; the ends hold the nearest observed value."""
    idx = torch.nonzero(seen).flatten()
    if len(idx) == len(seen):
        return x
    frames = torch.arange(len(seen), dtype=x.dtype, device=x.device)
    pos = torch.searchsorted(idx, torch.arange(len(seen), device=x.device)).clamp(1, max(len(idx) - 1, 1))
    lo, hi = idx[pos - 1], idx[pos.clamp(max=len(idx) - 1)]
    span = (hi - lo).clamp(min=1).to(x.dtype)
    w = ((frames - lo.to(x.dtype)) / span).clamp(0, 1)[:, None]
    filled = (1 - w) * x[lo] + w * x[hi]
    return torch.where(seen[:, None], x, filled)


def initial_estimate(init, body, kp, focal, principal, world=None, chunk=2048):
    """Per-frame x (N,144) 6D, betas (N,10) and the condition c (N,102); ``world`` (N, 33, 3)
    MediaPipe's world landmarks, for an estimator that takes them, or None."""
    xs, bs = [], []
    c = make_condition(kp, focal, principal)
    w = None if world is None or not init.config.world_dim else \
        world_features(torch.as_tensor(np.asarray(world), dtype=kp.dtype, device=kp.device))
    with torch.no_grad():
        for s in range(0, kp.shape[0], chunk):
            x, b = init(c[s:s + chunk], None if w is None else w[s:s + chunk])
            xs.append(x)
            bs.append(b)
    return torch.cat(xs), torch.cat(bs), c


@dataclass
class InitialState:
    x: torch.Tensor          # (N, 144) 6D rotations, unobserved frames bridged
    trans: torch.Tensor      # (N, 3)
    betas: torch.Tensor      # (10,) on the target body model
    obs: Observation
    observed: torch.Tensor   # (N,) bool


def world_evidence(world, kp):
    """MediaPipe world landmarks (N, 33, 3) as guidance evidence (N, 33, 4): metres + the
    landmark's 2D visibility as confidence; frames without landmarks get zero confidence."""
    world = torch.as_tensor(np.asarray(world), dtype=kp.dtype, device=kp.device)
    present = (world.abs().sum((1, 2)) > 0)[:, None]
    return torch.cat([world, (kp[..., 2] * present)[..., None]], -1)


def initial_state(trained, shipped, body, kp, focal, principal, world=None, config=None, height=None) -> InitialState:
    """Per-frame initial estimates, one shared shape, translation in closed form. ``world``:
    MediaPipe's world landmarks (N, 33, 3), evidence for the guidance (None: not used), and with
    ``config.init_world_steps`` fused into the estimate (``fuse_world``). ``height``: the
    performer's height in metres, if known: the shape is set to it, which fixes the distance
    (one image cannot tell a tall person far away from a short one near by)."""
    n = kp.shape[0]
    seen = observed(kp)
    if not seen.any():
        raise BackendError("no_person", "no frame has enough visible body landmarks to solve",
                           "the whole body should be visible in at least part of the video")
    x, betas_per_frame, cond = initial_estimate(trained.init, shipped, kp, focal, principal, world)
    # one body shape per track: the confidence-weighted mean over observed frames
    w = kp[..., 2].mean(1) * seen
    betas = transfer_betas(shipped, (betas_per_frame * w[:, None]).sum(0) / w.sum(), body)
    if height is not None:
        betas = body.with_stature(betas, height)
    x = _bridge(x, seen)
    with torch.no_grad():
        lm = body.landmarks(rot6d_to_matrix(x.reshape(n, 24, 6)), betas.expand(n, -1))
    trans = _bridge(solve_translation(lm, kp, focal, principal), seen)
    evidence = None if world is None else world_evidence(world, kp)
    obs = Observation(kp, focal, principal, cond, world=evidence)
    config = config or ScoreHMRConfig()
    if evidence is not None and config.world and config.init_world_steps:
        x = fuse_world(body, x, trans, betas, obs, config)
        with torch.no_grad():
            lm = body.landmarks(rot6d_to_matrix(x.reshape(n, 24, 6)), betas.expand(n, -1))
        trans = _bridge(solve_translation(lm, kp, focal, principal), seen)
    return InitialState(x, trans, betas, obs, seen)


def fuse_world(body, x, trans, betas, obs, config, lr=0.02):
    """The learned estimate moved toward MediaPipe's world landmarks (and kept on the 2D ones):
    a few Adam steps per frame on the guidance's own keypoint and world terms, no prior. The
    estimator sees only 2D; this adds MediaPipe's 3D where the two disagree."""
    losses = GuidanceLosses(body, betas[None], obs, config, temporal=False)
    x = x.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    with torch.enable_grad():
        for i in range(config.init_world_steps):
            if i % 5 == 0:
                losses.update_world_alignment(x.detach())
            loss = losses(x, trans)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return x.detach()


def camera_tensors(n, focal_length, image_size, device):
    focal = torch.full((n,), float(focal_length), device=device)
    principal = torch.tensor([image_size[0] / 2, image_size[1] / 2], dtype=torch.float32, device=device).expand(n, 2)
    return focal, principal


def solve_sequence(*args, **kwargs):
    with cpu_threads():
        return _solve_sequence(*args, **kwargs)


def refine_range(*args, **kwargs):
    with cpu_threads():
        return _refine_range(*args, **kwargs)


def _solve_sequence(keypoints_2d, image_size, focal_length, fps, models: Models | None = None,
                    job: JobContext | None = None, config=None, temporal=True, world_landmarks=None,
                    find_floor=True, foot_lock="auto", height=None, gravity=None):
    """``models`` None: the shipped ones, on the CPU. ``world_landmarks`` (T, 33, 3):
    MediaPipe's world landmarks of the same frames, or None.
    With ``find_floor`` (a static camera) the floor is estimated from the solved motion (its tilt
    from ``gravity`` where the up is known already: the shot's, see ``world.shared_gravity``), the
    motion is refined once more standing on it, and the ``floor`` and ``cam_to_world`` come back;
    else ``no_floor`` says why not and ``world_note`` tells the user. ``origin``: the camera-frame
    point the world's origin lies under, the person's first position. ``foot_lock``: auto |
    always | never (ScoreHMRConfig); ``height``: the performer's height in metres, or None (see
    ``initial_state``)."""
    job = job or JobContext()
    models = models or load_models()
    body, shipped, trained = models.body, models.shipped, models.trained
    kp = torch.as_tensor(np.asarray(keypoints_2d), dtype=torch.float32, device=torch.device(models.device))
    n = kp.shape[0]
    job.report("init", 0, n)
    state = initial_state(trained, shipped, body, kp, *camera_tensors(n, focal_length, image_size, kp.device),
                          world=world_landmarks, config=config, height=height)
    job.report("init", n, n)
    job.check()
    config = dataclasses.replace(config or ScoreHMRConfig(), foot_lock=foot_lock)
    engine = ScoreHMR(trained.diffusion, body, config)
    x, trans = engine.refine_sequence(state.x, state.trans, state.betas[None], state.obs, fps=fps,
                                      temporal=temporal, job=job)
    out = {"body_model_id": body.model_id, "betas": state.betas.cpu().numpy(), "floor": None, "cam_to_world": None,
           "no_floor": "", "world_note": ""}
    to_numpy = lambda x: rot6d_to_axis_angle(x.reshape(n, 24, 6)).reshape(n, 72).cpu().numpy()  # noqa: E731
    if find_floor and temporal:
        x, trans, out["floor"], out["no_floor"] = ground(engine, x, trans, state, fps, job, gravity)
        if out["floor"] is None:
            out["world_note"] = f"no floor found ({out['no_floor']}): the motion is in the camera frame"
    first = int(torch.argmax(state.observed.to(torch.uint8)))   # the first frame with the person
    out["origin"] = (body.rest_joints(state.betas[None])[0, 0] + trans[first]).cpu().numpy()
    if out["floor"] is not None:
        out["cam_to_world"] = world.cam_to_world(out["floor"], origin=out["origin"])
    out.update(poses=to_numpy(x), trans=trans.cpu().numpy())
    return out


def ground(engine, x, trans, state, fps, job: JobContext | None = None, gravity=None):
    """Floor of the solved motion (its tilt from ``gravity`` where that is known), then the motion
    refined again standing on it (planted feet on the floor, the floor fixing the body's distance).
    A floor on which the motion no longer fits its 2D landmarks is wrong (it drags the body away
    from them), and so is one under which the grounded motion has no floor of its own: then the
    motion stays as solved, in the camera frame. Returns (x, trans, floor or None, why there is
    none or "")."""
    valid, landmarks = state.observed.cpu().numpy(), landmarks_of(state)   # for both floor fits
    try:
        floor = world.floor_of_motion(engine.body, x, trans, state.betas, fps, valid, landmarks, gravity)
    except world.FloorError as exc:
        log.warning("no floor: %s; the result stays in the camera frame", exc)
        return x, trans, None, str(exc)
    log.info("floor: camera %.2f m above it, pitch %.1f deg, roll %.1f deg (%d of %d planted points on it)",
             floor.height, *world.camera_tilt(world.cam_to_world(floor))[:2], floor.inliers, floor.planted)
    obs = dataclasses.replace(state.obs, floor=world.floor_tensor(floor, trans))
    engine = ScoreHMR(engine.diffusion, engine.body, dataclasses.replace(engine.config,
                                                                         iterations=engine.config.ground_iterations))
    refined = engine.refine_sequence(x, trans, state.betas[None], obs, fps=fps, job=job or JobContext())
    before, after = (_reprojection_px(engine.body, *motion, state) for motion in ((x, trans), refined))
    if after > MAX_GROUNDED_REPROJECTION * before:
        log.warning("standing on the floor moves the body off its landmarks (%.1f -> %.1f px): no floor, "
                    "the result stays in the camera frame", before, after)
        return x, trans, None, f"standing on the best floor moves the body off the footage, {before:.1f} -> {after:.1f} px"
    # the floor fitted again to the grounded motion: standing on it, the feet slide less, so more of
    # them count as planted and the plane is fitted to more, steadier points (training renders, 12
    # views with a floor: gravity error 5.2 -> 4.8 deg, walkers 4.1 -> 3.1). A grounded motion with
    # no floor of its own to trust says the first one was wrong: on the 105 training views 6 floors
    # fell so, 4 of them 7-13 deg off (the other two 1.8 and 2.9 deg)
    try:
        floor = world.floor_of_motion(engine.body, *refined, state.betas, fps, valid, landmarks, gravity)
    except world.FloorError as exc:
        log.warning("the motion standing on the floor has no floor of its own (%s): no floor, the result stays "
                    "in the camera frame", exc)
        return x, trans, None, f"standing on the best floor, the motion has no floor of its own: {exc}"
    return *refined, floor, ""


def landmarks_of(state):
    """MediaPipe's world landmarks of a solve (T, 33, 3), NaN where a frame has none; or None
    (the floor takes its pull toward the body's up from them)."""
    if state.obs.world is None:
        return None
    world_landmarks = state.obs.world.cpu().numpy().astype(np.float64)
    return np.where(world_landmarks[..., 3:].max(1, keepdims=True) > 0, world_landmarks[..., :3], np.nan)


def at_scale_of(x, reference):
    """6D rotations ``x`` (N, 144) with each column rescaled to the length of ``reference``'s
    same column (the rotations ``x`` stands for are unchanged)."""
    n = x.shape[0]
    unit = torch.nn.functional.normalize(x.reshape(n, 24, 3, 2), dim=2)
    return (unit * reference.reshape(n, 24, 3, 2).norm(dim=2, keepdim=True)).reshape(n, -1)


@torch.no_grad()
def _reprojection_px(body, x, trans, state):
    """Confidence-weighted mean distance (px) of the body's landmarks to the detections."""
    n = x.shape[0]
    obs = state.obs
    landmarks = body.landmarks(rot6d_to_matrix(x.reshape(n, 24, 6)), state.betas.expand(n, -1), trans)
    error = (project(landmarks, obs.focal, obs.principal) - obs.keypoints[..., :2]).norm(dim=-1)
    weight = obs.keypoints[..., 2].clamp(0, 1)
    return float((error * weight).sum() / weight.sum().clamp(min=1e-9))


def _refine_range(result, start, end, fixed, models: Models | None = None, job: JobContext | None = None,
                  config=None, contacts="auto"):
    """Re-solve frames start..end (inclusive, source numbering) of ``result`` with ``models``
    (None: the shipped ones, on the CPU), on its floor when it has one (``contacts`` auto | force
    | free inside the range, see ScoreHMRConfig.foot_lock). Returns poses (count, 72) and trans
    (count, 3) for exactly those frames."""
    models = models or load_models()
    models.check_result_body(result)
    dev = torch.device(models.device)
    body, trained = models.body, models.trained
    frames = result.frame_index
    rows = np.nonzero((frames >= start) & (frames <= end))[0]
    lo, hi = max(0, rows[0] - SEAM_MARGIN), min(len(frames), rows[-1] + 1 + SEAM_MARGIN)
    sl, keep = slice(lo, hi), slice(rows[0] - lo, rows[-1] - lo + 1)   # the window; the range inside it
    kp = torch.as_tensor(result.keypoints_2d[sl], dtype=torch.float32, device=dev)
    n = kp.shape[0]
    focal, principal = camera_tensors(n, result.focal_length, result.image_size, dev)
    landmarks_3d = None if result.world_landmarks is None else result.world_landmarks[sl]
    poses = torch.as_tensor(result.poses[sl], dtype=torch.float32, device=dev).reshape(n, 24, 3)
    fixed_rows = {int(np.nonzero(frames[sl] == frame)[0][0]): pose for frame, pose in fixed.items()}
    for i, pose in fixed_rows.items():   # the user's poses, which the refined motion passes through
        poses[i] = torch.as_tensor(pose, dtype=torch.float32, device=dev).reshape(24, 3)
    # the solve refines the initial estimator's 6D, whose columns are not unit vectors (its loss
    # reads them through rot6d_to_matrix, which normalises them; the shipped one's are 2-41 long
    # depending on the joint, 12 on average on the bundled walk), and the prior and every guidance
    # weight were tuned at that scale: Refine starts at the estimator's own lengths for these
    # frames. From unit columns the prior pulled far harder and the refined walk missed its
    # landmarks by 24-35 px, where the solve leaves 5 px
    estimate, _, condition = initial_estimate(trained.init, body, kp, focal, principal, landmarks_3d)
    x = at_scale_of(axis_angle_to_rot6d(poses).reshape(n, -1), estimate)
    trans = torch.as_tensor(result.trans[sl], dtype=torch.float32, device=dev)
    betas = torch.as_tensor(result.betas, dtype=torch.float32, device=dev)
    # the margins keep their current poses, so the refined range meets its neighbours
    held = (set(range(n)) - set(range(keep.start, keep.stop))) | set(fixed_rows)
    fixed_x = {i: x[i] for i in sorted(held)}
    # MediaPipe's world landmarks, where the result kept them, are evidence here as in the solve
    evidence = None if landmarks_3d is None else world_evidence(landmarks_3d, kp)
    obs = Observation(kp, focal, principal, condition, fixed_x, world=evidence)
    if result.cam_to_world is not None and np.ndim(result.cam_to_world) == 2:   # a static camera's floor
        override = torch.zeros(n, device=dev)
        override[keep] = {"auto": 0.0, "force": 1.0, "free": -1.0}[contacts]
        obs = dataclasses.replace(obs, floor=world.floor_tensor(world.floor_from_cam_to_world(result.cam_to_world), trans),
                                  contact_override=override)
    engine = ScoreHMR(trained.diffusion, body, config or ScoreHMRConfig())
    x, trans = engine.refine_sequence(x, trans, betas[None], obs, fps=float(result.mocap_framerate), job=job)
    m = keep.stop - keep.start
    return {"poses": rot6d_to_axis_angle(x[keep].reshape(m, 24, 6)).reshape(m, 72).cpu().numpy(),
            "trans": trans[keep].cpu().numpy()}
