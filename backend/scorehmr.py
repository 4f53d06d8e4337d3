"""ScoreHMR: score-guided diffusion for 3D human recovery (Stathopoulos et al., CVPR 2024).

The whole method in one file. An initial estimate x (24 rotations in 6D) is refined K times by

  1. DDIM inversion of x from t = 0 up to t = tau with the unguided epsilon;
  2. guided DDIM sampling from tau back to 0. At each step, with epsilon computed without
     gradient: x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t); L = L(x0_hat);
     eps' = eps + s sqrt(1 - a_t) dL/dx_t (through x0_hat only, never through the network);
     x_{t-d} = sqrt(a_{t-d}) x0_hat' + sqrt(1 - a_{t-d}) eps'.
     The temporal pose smoothness, the multi-view and the floor term are stiff (their explicit gradient
     steps oscillate once the weight is large), so they enter as implicit steps of the same
     size on x0_hat' (``GuidanceLosses.smooth_pose_step``: one small linear solve along time;
     ``multiview_step``: a shrink toward the views' mean; ``floor_step``: a linearised 4 x 4
     solve per frame) and eps' is recomputed from the result.
  3. the next iteration inverts from the last sample; a window stops early when L stops falling.

Guidance losses compose (``GuidanceLosses``): 2D keypoints (confidence-weighted GMoF
reprojection of the model's MediaPipe landmarks; the camera translation is re-fitted in closed
form after every iteration, smoothed over time),
MediaPipe's metric world landmarks (robust agreement of the body's hip-centred 3D landmarks with
them, see ``GuidanceLosses.update_world_alignment``), temporal smoothness of pose and of root
translation (the original leaves translation unsmoothed: users see depth jitter), foot contact
(planted feet stay put) and multi-view agreement of the body pose. Long sequences run in overlapping windows blended at the seams,
so memory stays flat in the sequence length.
"""
from dataclasses import dataclass, field

import torch

from .camera import project, solve_translation
from .condition import VISIBLE, observed, person_box
from .geometry import rot6d_to_matrix
from .job import JobContext
from smplcore.skeleton import LANDMARK_INDEX

FEET = (7, 8, 10, 11)  # ankles and balls of the feet
# a body that has risen off the floor keeps its planted foot: the lower foot up to this high
# (m; a jump's feet are higher) and this slow (m/s; a swing foot is faster) counts as planted
FLOATING_FOOT, FLOATING_SPEED = 0.15, 1.0
HIPS = (LANDMARK_INDEX["left_hip"], LANDMARK_INDEX["right_hip"])  # MediaPipe's world origin is their midpoint


@dataclass
class ScoreHMRConfig:
    tau: int = 50                 # inversion depth (of T = 1000), paper: 50
    step: int = 25                # DDIM stride; paper: 2. Stride 25 matched stride 10 on training clips
                                  # at 2.2x the speed (bench/tune_guidance.py); 50 lost accuracy
    iterations: int = 5           # K; paper: 10, with early stop
    ground_iterations: int = 5    # K of the second pass, standing on the floor (solver.ground); 2 / 3
                                  # would save 0.2 s on the bundled clip, but on 42 training views
                                  # (bench/world.py --set) the world root error rose 544 -> 570 / 562 mm
    guidance_scale: float = 10.0  # s (chosen on training clips: bench/tune_guidance.py)
    early_stop: float = 1e-3      # stop a window when L falls by less than this fraction
    use_condition: bool = True    # conditional epsilon (observation) vs the unconditional prior
    # loss weights
    keypoints: float = 60.0       # rendered training views seen by MediaPipe (bench/tune_guidance.py --renders,
                                  # 20 views, 1852 frames): 30 / 60 / 100 / 200 gave PA-MPJPE 71.4 / 70.6 /
                                  # 70.3 / 72.0 mm, accel 13.1 / 12.7 / 13.0 / 16.1 (synthetic noise chose 30);
                                  # on 33 views, 5211 frames: 30 / 60 gave 65.7 / 65.1 mm, accel 8.0 / 8.1
                                  # re-checked with the render fine-tune (its unseen-clips split, 35 views,
                                  # 5155 frames): 30 / 60 / 120 gave 61.2 / 60.9 / 61.5 mm, MPJPE 99.4 /
                                  # 100.2 / 106.3, accel 8.84 / 9.03 / 9.53
    gmof_sigma: float = 0.1       # robust scale, as a fraction of the person's 2D size
    # MediaPipe world landmarks (metres, hip-centred), compared in the axes of a camera looking
    # at the hips (how a crop-based detector sees): weight and robust scale (metres). MediaPipe's
    # depth is compressed and noisier than its image-plane axes (Pose2Sim views against their
    # triangulation: depth x 0.63-0.83, 10-12 cm rms vs 3-5 cm), so it is stretched by
    # world_depth_gain and weighted by world_depth_weight. With world_align the landmarks are
    # rotated and scaled onto the estimate once per window and iteration (closed form): they
    # then inform the articulated pose, not the global orientation or the body size.
    # Chosen on real footage whose motion the prior has never seen (bench/world_evidence.py: the
    # Pose2Sim demo, each of 4 views solved alone, scored against the 4-view triangulation and in
    # the other views): off / 3 / 10 / 15 / 30 at sigma 0.1 gave PA 74.2 / 73.6 / 72.6 / 72.5 /
    # 74.7 mm and 71.7 / 70.6 / 68.6 / 68.9 / 73.7 px in the views not used; sigma 0.2 was worse
    # from weight 10 on. The rendered training views cannot choose it: their motion is in the
    # prior's training data, so there our estimate (61 mm) is far better than MediaPipe's 3D
    # (82 mm) and every weight looks harmful (10 / 30 at sigma 0.2: 68.8 -> 71.3 / 76.3 mm)
    world: float = 10.0
    world_sigma: float = 0.1
    world_depth_gain: float = 1.47   # 1 / 0.68, measured on renders (data/world_noise_model.json)
    world_depth_weight: float = 1.0
    world_align: bool = True
    init_world_steps: int = 0     # the initial estimate fused with the world landmarks first (solver.fuse_world)
    # pose smoothness: weight and order (1: pose velocity, as in the paper, with weight 30;
    # 2: pose acceleration, which leaves steady motion alone). It enters as an implicit step, so
    # large weights are stable; order 2 with 3000 chosen on training clips (bench/tune_guidance.py)
    smooth_pose: float = 3000.0
    smooth_order: int = 2
    smooth_trans: float = 30.0    # SMPLify's translation term (ScoreHMR solves it, see trans_smooth)
    foot_contact: float = 10.0
    # the floor (Observation.floor, a static camera's): planted feet judged by their height above
    # it; ``foot_lock`` auto (low and slow), always (low: every foot near the floor is locked) or
    # never (no contact terms); planted feet are pulled onto it (pose: ``floor``; translation:
    # ``floor_depth``, relative to each frame's 2D term, which fixes the body's distance)
    foot_lock: str = "auto"
    floor: float = 300.0
    floor_depth: float = 1.0
    # the translation's last fit leaves no foot under the floor: frames whose lowest foot it sank
    # are fitted again with that foot on it (weight relative to the 2D term; ScoreHMR.refine_window).
    # Without it the 2D fit left the bundled walk's planted feet up to 3.2 cm under the floor
    floor_lift: float = 4.0
    foot_lock_trans: float = 10.0  # planted feet stay put in the translation solve (relative to the 2D term)
    multiview: float = 50.0       # only with simultaneous views; chosen on Pose2Sim held-out-view error (bench/multiview.py)
    # camera translation: after each iteration, the closed-form least-squares fit to the 2D
    # landmarks with this temporal smoothing (relative to the data term). The paper's one Adam
    # step per guided step left ~5 cm/frame^2 of depth jitter here (bench/tune_guidance.py).
    trans_smooth: float = 1.0
    # the refined poses Gaussian-filtered over time (sigma in seconds; 0: off). The diffusion
    # leaves frame-to-frame jitter that a stronger smoothness term removes only at a large cost
    # in accuracy (smooth_pose 10k: accel -20 %, PA-MPJPE +7 %); on the rendered training views
    # (bench/tune_guidance.py --renders, 38 views, 6051 frames) sigma 0 / 0.033 / 0.05 / 0.067 s
    # gave accel 7.83 / 7.64 / 7.44 / 7.26 at PA-MPJPE 63.82 / 63.91 / 64.05 / 64.28 mm (0.1 s on 37
    # views: PA-MPJPE +1.2 mm)
    output_smooth: float = 0.05
    # windows
    window: int = 96
    overlap: int = 16
    windows_per_batch: int = 8    # windows refined together: fewer, larger tensor ops on a CPU


@dataclass
class Observation:
    """What the guidance aligns to, for N frames (or N views)."""
    keypoints: torch.Tensor            # (N, 33, 3) pixels + confidence
    focal: torch.Tensor                # (N,)
    principal: torch.Tensor            # (N, 2)
    condition: torch.Tensor            # (N, 102) for the conditional epsilon
    fixed_x: dict = field(default_factory=dict)   # frame -> (144,) 6D pose kept (its translation too)
    world: torch.Tensor | None = None  # (N, 33, 4) MediaPipe world landmarks (metres, hip-centred) + confidence
    floor: torch.Tensor | None = None  # (4,): up (camera frame, unit) and camera height above the floor (m)
    contact_override: torch.Tensor | None = None  # (N,) +1 feet planted, -1 free, 0 judged

    def select(self, rows: torch.Tensor) -> "Observation":
        position = {int(r): i for i, r in enumerate(rows)}
        return Observation(self.keypoints[rows], self.focal[rows], self.principal[rows], self.condition[rows],
                           {position[r]: v for r, v in self.fixed_x.items() if r in position},
                           None if self.world is None else self.world[rows], self.floor,
                           None if self.contact_override is None else self.contact_override[rows])


def gmof(residual_sq, sigma):
    """Geman-McClure: quadratic near 0, saturating beyond sigma (robust to detector outliers)."""
    return sigma ** 2 * residual_sq / (sigma ** 2 + residual_sq)


class GuidanceLosses:
    """L(x0, trans) for one window: a sum over frames, so gradients per frame do not depend
    on the window length. Rows come in ``groups`` of equal length (row = group * frames + frame),
    each its own time line for the temporal terms: several windows refined in one batch, or
    simultaneous views of the same frames (``groups_are_views``), which the multi-view term
    then pulls toward one body pose at each frame (global orientation stays free per view)."""

    def __init__(self, body, betas, obs: Observation, config: ScoreHMRConfig, temporal=True, fps=30.0,
                 groups=1, groups_are_views=False):
        self.body, self.obs, self.cfg, self.temporal = body, obs, config, temporal
        self.groups, self.groups_are_views = groups, groups_are_views
        n = obs.keypoints.shape[0]
        self.betas = betas.expand(n, -1)
        self.rest = body.rest_joints(betas[:1])
        conf = obs.keypoints[..., 2].clamp(0, 1)
        self.weight = conf ** 2
        # residuals are measured in units of the person's 2D size; where the person was not
        # seen, the typical size of the window stands in
        _, size = person_box(obs.keypoints)
        seen = observed(obs.keypoints)
        typical = size[seen].median() if seen.any() else size.new_tensor(500.0)
        self.size = torch.where(seen, size, typical).clamp(min=20.0)
        self.fps = fps
        self.contact = None
        self.planted = None                 # (N, 4) feet on the floor, when there is one
        if obs.floor is not None:
            # rest height of each FEET joint above the sole: where it is when its foot is planted
            verts = body.v_template + torch.einsum("vcb,b->vc", body.shapedirs, betas.reshape(-1)[:body.num_betas])
            self.sole = self.rest[0, list(FEET), 1] - verts[:, 1].min()
        self.world_target = None
        if config.world and obs.world is not None:
            self.world_weight = obs.world[..., 3].clamp(0, 1) ** 2
            self.world_axes = ray_rotation(obs.keypoints, obs.focal, obs.principal)   # columns: the ray frame
            gain = torch.tensor([1.0, 1.0, config.world_depth_gain], dtype=obs.world.dtype, device=obs.world.device)
            self.world_evidence = hip_centred(obs.world[..., :3]) * gain
            self.world_target = self.world_evidence
            self.world_axis_weight = torch.tensor([1.0, 1.0, config.world_depth_weight], dtype=obs.world.dtype,
                                                  device=obs.world.device)

    def in_ray_frame(self, landmarks):
        """Camera-frame landmarks (N, 33, 3) -> hip-centred, in the axes of the camera facing the hips."""
        return hip_centred(landmarks) @ self.world_axes

    @staticmethod
    def pose(x):
        return rot6d_to_matrix(x.reshape(-1, 24, 6))

    def __call__(self, x, trans, parts=False, skip=()):
        cfg, obs = self.cfg, self.obs
        rot = self.pose(x)
        world_r, joints = self.body.forward_kinematics(rot, self.rest)
        terms = {}
        if cfg.keypoints or self.world_target is not None:
            lm = self.body.landmarks(rot, self.betas, trans, rest_joints=self.rest)
        if cfg.keypoints:
            uv = project(lm, obs.focal, obs.principal)
            r2 = ((uv - obs.keypoints[..., :2]) ** 2).sum(-1) / self.size[:, None] ** 2
            terms["keypoints"] = cfg.keypoints * (self.weight * gmof(r2, cfg.gmof_sigma)).sum()
        if self.world_target is not None:
            r2 = ((self.in_ray_frame(lm) - self.world_target) ** 2 * self.world_axis_weight).sum(-1)
            terms["world"] = cfg.world * (self.world_weight * gmof(r2, cfg.world_sigma)).sum()
        v = self.groups
        xv, tv = x.reshape(v, -1, x.shape[-1]), trans.reshape(v, -1, 3)
        if self.temporal and xv.shape[1] > 1:
            if cfg.smooth_pose and "smooth_pose" not in skip:
                terms["smooth_pose"] = cfg.smooth_pose * (time_difference(xv, cfg.smooth_order) ** 2).sum() / 24
            if cfg.smooth_trans and "smooth_trans" not in skip:
                terms["smooth_trans"] = cfg.smooth_trans * ((tv[:, 1:] - tv[:, :-1]) ** 2).sum()
            if cfg.foot_contact and self.contact is not None:
                feet = (joints[:, FEET] + trans[:, None]).reshape(v, -1, len(FEET), 3)
                step = ((feet[:, 1:] - feet[:, :-1]) ** 2).sum(-1)
                terms["foot_contact"] = cfg.foot_contact * (self.contact * step).sum()
        if cfg.floor and self.planted is not None and "floor" not in skip:
            above = self.above_floor(joints[:, list(FEET)] + trans[:, None])
            terms["floor"] = cfg.floor * (self.planted * above ** 2 + torch.relu(-above) ** 2).sum()
        if cfg.multiview and self.groups_are_views and v > 1 and "multiview" not in skip:
            body_pose = xv.reshape(v, xv.shape[1], 24, 6)[:, :, 1:]
            terms["multiview"] = cfg.multiview * ((body_pose - body_pose.mean(0, keepdim=True)) ** 2).sum() / 23
        total = sum(terms.values(), x.sum() * 0)  # never a bare 0: callers differentiate it
        return (total, terms) if parts else total

    @torch.no_grad()
    def smooth_pose_step(self, x, step, fixed_rows=None, fixed_values=None):
        """The proximal (implicit) step of the pose smoothness term: argmin_y |y - x|^2 / (2 step)
        + smooth_pose(y). Its explicit gradient step overshoots once step x weight is large (the
        term is stiff: high temporal frequencies); this one is stable for any weight. Rows fixed
        by the user are hard constraints, so their neighbours bend toward them (no spike)."""
        cfg, v = self.cfg, self.groups
        xv = x.reshape(v, -1, x.shape[-1])
        frames = xv.shape[1]
        if not (self.temporal and cfg.smooth_pose) or frames <= cfg.smooth_order:
            return x
        strength = 2 * step * cfg.smooth_pose / 24
        if fixed_rows is None or len(fixed_rows) == 0:
            return (smoothing_operator(frames, strength, cfg.smooth_order, x.dtype, x.device) @ xv).reshape(x.shape)
        x = x.clone()
        x[fixed_rows] = fixed_values
        keep = torch.ones(x.shape[0], dtype=torch.float64, device=x.device)
        keep[fixed_rows] = 1e8
        keep = keep.reshape(v, frames)
        system = torch.diag_embed(keep) + float(strength) * difference_gram(frames, cfg.smooth_order).to(x.device)
        y = torch.linalg.solve(system, keep[..., None] * x.reshape(v, frames, -1).double())
        return y.to(x.dtype).reshape(x.shape)

    def floor_step(self, x, trans, step):
        """The proximal step of the floor term (planted feet on the floor, no foot below it),
        linearised per frame: argmin_d |d|^2 / (2 step) + floor(x + d) with the feet heights
        h + J d. Each frame's feet depend on its own pose only, so this is a 4 x 4 solve per
        frame; stable for any weight, where the explicit gradient overshoots (a stiff term)."""
        cfg = self.cfg
        if not cfg.floor or self.planted is None:
            return x
        with torch.enable_grad():
            y = x.detach().requires_grad_(True)
            _, joints = self.body.forward_kinematics(self.pose(y), self.rest)
            above = self.above_floor(joints[:, list(FEET)] + trans[:, None])         # (N, 4)
            rows = [torch.autograd.grad(above[:, k].sum(), [y], retain_graph=k < len(FEET) - 1)[0]
                    for k in range(len(FEET))]
        with torch.no_grad():
            jac = torch.stack(rows, 1)                                                 # (N, 4, 144)
            above = above.detach()
            active = torch.maximum(self.planted, (above < 0).to(above.dtype))          # (N, 4)
            strength = 2 * step * cfg.floor
            gram = jac @ jac.transpose(1, 2)                                           # (N, 4, 4)
            system = torch.eye(len(FEET), dtype=x.dtype, device=x.device) + strength * active[..., None] * gram
            u = -torch.linalg.solve(system, (strength * active * above)[..., None])    # (N, 4, 1)
            return x + (jac.transpose(1, 2) @ u)[..., 0]

    @torch.no_grad()
    def multiview_step(self, x, step):
        """The implicit step of the multi-view term: each view's body pose moves toward the views'
        mean by the exact proximal factor (the mean itself stays), stable for any weight."""
        cfg, v = self.cfg, self.groups
        if not (cfg.multiview and self.groups_are_views and v > 1):
            return x
        pose = x.reshape(v, -1, 24, 6).clone()
        mean = pose[:, :, 1:].mean(0, keepdim=True)
        pose[:, :, 1:] = mean + (pose[:, :, 1:] - mean) / (1 + 2 * step * cfg.multiview / 23)
        return pose.reshape(x.shape)

    @torch.no_grad()
    def update_world_alignment(self, x):
        """Rotate and scale MediaPipe's world landmarks onto the current estimate's, one
        similarity per group (time line), confidence-weighted (Kabsch/Umeyama in closed form):
        what they then add is the articulated pose and its changes over the window, nothing of
        the global orientation or body size, which the 2D landmarks and the shared betas decide."""
        if self.world_target is None or not self.cfg.world_align:
            return
        v = self.groups
        ours = self.in_ray_frame(self.body.landmarks(self.pose(x), self.betas, rest_joints=self.rest))
        theirs = self.world_evidence
        w = self.world_weight.reshape(v, -1)
        a, b = theirs.reshape(v, -1, 3), ours.reshape(v, -1, 3)
        cov = torch.einsum("gk,gki,gkj->gij", w, b, a)                   # sum w b a^T
        u, s, vt = torch.linalg.svd(cov.double())
        d = torch.sign(torch.linalg.det(u @ vt))
        fix = torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1)
        r = (u @ torch.diag_embed(fix) @ vt).to(x.dtype)                 # (G, 3, 3): b ~ scale r a
        scale = (s * fix).sum(-1).to(x.dtype) / (w[..., None] * a ** 2).sum((1, 2)).clamp(min=1e-9)
        self.world_target = (scale[:, None, None] * (a @ r.transpose(1, 2))).reshape(theirs.shape)

    def above_floor(self, feet):
        """Height (…, 4) of FEET joints (…, 4, 3) above where they are when planted."""
        return feet @ self.obs.floor[:3] + self.obs.floor[3] - self.sole

    @torch.no_grad()
    def update_contacts(self, x, trans):
        """Planted feet: slow (< 0.6 m/s) and within 4 cm of the lower foot's same point (ankle
        vs ankle, ball vs ball) along the body's average up direction, per view, re-judged every
        iteration. With a floor, judged once on the incoming motion (``refine_window``), in the
        world: within 4 cm of the floor and slow, or the lower foot within FLOATING_FOOT (foot_lock
        auto), or within 8 cm (always); none with foot_lock never; the user's override wins."""
        rot = self.pose(x)
        _, joints = self.body.forward_kinematics(rot, self.rest)
        joints = (joints + trans[:, None]).reshape(self.groups, -1, 24, 3)
        if self.obs.floor is not None:
            self._update_floor_contacts(joints)
            return
        up = torch.nn.functional.normalize((joints[:, :, 12] - joints[:, :, 0]).mean(1), dim=-1)  # (V, 3)
        feet = joints[:, :, list(FEET)]                                       # (V, T, 4, 3): ankles, balls
        height = torch.einsum("vtfc,vc->vtf", feet, up)
        pairs = height.reshape(*height.shape[:2], 2, 2)                       # (V, T, ankle|ball, left|right)
        low = (pairs < pairs.amin(-1, keepdim=True) + 0.04).reshape(height.shape)
        speed = torch.zeros_like(height)
        speed[:, 1:] = (feet[:, 1:] - feet[:, :-1]).norm(dim=-1) * self.fps
        contact = (speed < 0.6) & low
        self.contact = (contact[:, 1:] & contact[:, :-1]).float()

    def _update_floor_contacts(self, joints):
        feet = joints[:, :, list(FEET)]                                       # (V, T, 4, 3)
        above = self.above_floor(feet)
        speed = torch.zeros_like(above)
        speed[:, 1:] = (feet[:, 1:] - feet[:, :-1]).norm(dim=-1) * self.fps
        lower = above.reshape(*above.shape[:2], 2, 2).amin(2)                # (V, T, left|right)
        lower_foot = (lower <= lower.amin(-1, keepdim=True)).repeat(1, 1, 2)
        mode = self.cfg.foot_lock
        if mode == "never":
            contact = torch.zeros_like(above, dtype=torch.bool)
        elif mode == "always":
            contact = above < 0.08
        else:
            # near the floor and slow; or the lower foot a little above it (judged by height
            # alone, a risen body would let go of the floor and nothing would pull it back)
            contact = ((above < 0.04) & (speed < 0.6)) | (lower_foot & (above < FLOATING_FOOT) & (speed < FLOATING_SPEED))
        override = self.obs.contact_override
        if override is not None:
            override = override.reshape(self.groups, -1, 1)
            contact = torch.where(override > 0, lower_foot, contact & (override == 0))
        self.planted = contact.reshape(-1, len(FEET)).to(joints.dtype)
        self.contact = (contact[:, 1:] & contact[:, :-1]).to(joints.dtype)

    @torch.no_grad()
    def translation_terms(self, x):
        """Extra rows of ``solve_translation`` once there is a floor: planted feet onto it
        (``plane``) and staying put from frame to frame (``steps``)."""
        if self.planted is None:
            return {}
        cfg = self.cfg
        _, joints = self.body.forward_kinematics(self.pose(x), self.rest)
        feet = joints[:, list(FEET)]
        terms = {}
        if cfg.floor_depth:
            up, height = self.obs.floor[:3], self.obs.floor[3]
            count = self.planted.sum(1)
            want = ((self.sole - height - feet @ up) * self.planted).sum(1) / count.clamp(min=1)
            terms["plane"] = (up, want, cfg.floor_depth * count)
        if cfg.foot_lock_trans:
            v = self.groups
            feet = feet.reshape(v, -1, len(FEET), 3)
            contact = self.contact                                            # (V, T-1, 4)
            count = contact.sum(-1)
            move = -((feet[:, 1:] - feet[:, :-1]) * contact[..., None]).sum(2) / count.clamp(min=1)[..., None]
            pad = lambda z: torch.cat([torch.zeros_like(z[:, :1]), z], 1).reshape(-1, *z.shape[2:])  # noqa: E731
            terms["steps"] = (pad(cfg.foot_lock_trans * count), pad(move))
        return terms

    @torch.no_grad()
    def lifted_onto_floor(self, plane, x, trans):
        """``plane`` (of ``translation_terms``) with the frames whose lowest foot is under the floor
        at ``trans`` asked to stand with that foot on it (weight at least ``floor_lift``); None when
        no foot is under it or there is no plane term."""
        if plane is None or not self.cfg.floor_lift:
            return None
        up, want, weight = plane
        _, joints = self.body.forward_kinematics(self.pose(x), self.rest)
        lift = torch.relu(-self.above_floor(joints[:, list(FEET)] + trans[:, None]).amin(1))
        under = lift > 0
        if not under.any():
            return None
        return (up, torch.where(under, trans @ up + lift, want),
                torch.where(under, weight.clamp(min=self.cfg.floor_lift), weight))


class ScoreHMR:
    def __init__(self, diffusion, body, config: ScoreHMRConfig | None = None):
        self.diffusion = diffusion.eval()
        self.body = body
        self.config = config or ScoreHMRConfig()
        for p in self.diffusion.parameters():
            p.requires_grad_(False)

    def _eps(self, x, t, c_emb):
        with torch.no_grad():
            return self.diffusion.denoiser(x, torch.full((x.shape[0],), t, device=x.device, dtype=torch.long), c_emb=c_emb)

    @torch.no_grad()
    def _solve_translation(self, x, trans0, betas, obs, groups, fixed_idx, temporal, plane=None, steps=None):
        n = x.shape[0]
        points = self.body.landmarks(rot6d_to_matrix(x.reshape(n, 24, 6)), betas.expand(n, -1))
        trans = solve_translation(points, obs.keypoints, obs.focal, obs.principal,
                                  smooth=self.config.trans_smooth if temporal else 0.0, groups=groups,
                                  plane=plane, steps=steps if temporal else None, hold=(fixed_idx, trans0[fixed_idx]))
        trans[fixed_idx] = trans0[fixed_idx]
        return trans

    def _levels(self):
        cfg = self.config
        return list(range(0, cfg.tau + 1, cfg.step)) if cfg.tau > 0 else [0]

    def refine_window(self, x, trans, betas, obs: Observation, temporal=True, fps=30.0, groups=1,
                      groups_are_views=False, job: JobContext | None = None):
        """Refine one batch: x (N, 144), trans (N, 3), N = groups x frames (group-major, see
        GuidanceLosses). Returns refined (x, trans, loss history); raises Cancelled when ``job``
        is cancelled."""
        cfg, dm = self.config, self.diffusion
        job = job or JobContext()
        c_emb = dm.denoiser.embed_condition(obs.condition if cfg.use_condition else None, x.shape[0])
        losses = GuidanceLosses(self.body, betas, obs, cfg, temporal=temporal, fps=fps, groups=groups,
                                groups_are_views=groups_are_views)
        fixed_idx = torch.tensor(sorted(obs.fixed_x), dtype=torch.long, device=x.device)
        fixed_val = torch.stack([obs.fixed_x[i] for i in sorted(obs.fixed_x)]) if obs.fixed_x else None
        trans0 = trans.detach().clone()   # fixed frames keep their translation too
        levels = self._levels()
        history = []
        x = x.detach()
        floor_terms = {}
        if obs.floor is not None and temporal:
            # on a floor the incoming motion's planted feet hold its height from the start (a
            # plain 2D fit first would let the weakly seen depth, and with it the height, jump).
            # They are judged once, here: re-judged every iteration, the 105 training views got
            # 7 floors more than 7 deg off instead of 5, and the same figures on the 22 floors
            # both found (gravity 2.71 / 2.67 deg, root 291 / 292 mm, foot motion 7.4 / 7.5 mm)
            losses.update_contacts(x, trans)
            floor_terms = losses.translation_terms(x)
        trans = self._solve_translation(x, trans0, betas, obs, groups, fixed_idx, temporal, **floor_terms)
        for _ in range(cfg.iterations):
            job.check()
            if cfg.foot_contact and obs.floor is None and temporal:
                losses.update_contacts(x, trans)
            losses.update_world_alignment(x)
            # 1. DDIM inversion 0 -> tau with the unguided epsilon
            for t_from, t_to in zip(levels[:-1], levels[1:]):
                eps = self._eps(x, t_from, c_emb)
                x = dm.ddim_step(x, eps, torch.tensor(t_from), torch.tensor(t_to))
            # 2. guided DDIM sampling tau -> 0
            for t_from, t_to in zip(levels[::-1][:-1], levels[::-1][1:]):
                eps = self._eps(x, t_from, c_emb)
                x_t = x.detach().requires_grad_(True)
                ab = dm.alpha_bar(torch.tensor(t_from))
                x0_hat = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
                # the stiff terms (smoothness, multi-view, floor) enter as implicit steps on x0;
                # the translation has no gradient here (it is re-fitted in closed form)
                grad_x, = torch.autograd.grad(
                    losses(x0_hat, trans, skip=("smooth_pose", "smooth_trans", "multiview", "floor")), [x_t])
                eps = eps + cfg.guidance_scale * (1 - ab).sqrt() * grad_x
                x0_guided = (x_t.detach() - (1 - ab).sqrt() * eps) / ab.sqrt()
                # the same step size as the gradient's: x0' = x0 - s (1 - a_t) / a_t dL/dx0
                step = cfg.guidance_scale * (1 - ab) / ab
                x0_guided = losses.multiview_step(x0_guided, step)
                x0_guided = losses.floor_step(x0_guided, trans, step)
                x0_guided = losses.smooth_pose_step(x0_guided, step, fixed_idx, fixed_val)
                if fixed_val is not None:
                    x0_guided[fixed_idx] = fixed_val
                eps = (x_t.detach() - ab.sqrt() * x0_guided) / (1 - ab).sqrt()
                ab_to = dm.alpha_bar(torch.tensor(t_to))
                x = ab_to.sqrt() * x0_guided + (1 - ab_to).sqrt() * eps
            if fixed_val is not None:
                x[fixed_idx] = fixed_val
            # 3. the camera translation for the new poses: closed form, smoothed over time
            trans = self._solve_translation(x, trans0, betas, obs, groups, fixed_idx, temporal,
                                            **losses.translation_terms(x))
            with torch.no_grad():
                history.append(float(losses(x, trans)))
            if len(history) > 1 and history[-2] - history[-1] < cfg.early_stop * abs(history[-2]):
                break
        if temporal and cfg.output_smooth > 0:
            # the poses low-passed over time, then the planted feet put back on the floor (the filter
            # bends the legs a little) and the translation fitted to the smoothed poses
            x = torch.cat([gaussian_smooth(line, cfg.output_smooth * fps) for line in x.reshape(groups, -1, x.shape[-1])])
            ab = dm.alpha_bar(torch.tensor(levels[min(1, len(levels) - 1)]))   # the last guided step's size
            x = losses.floor_step(x, trans, cfg.guidance_scale * (1 - ab) / ab)
            if fixed_val is not None:
                x[fixed_idx] = fixed_val
            terms = losses.translation_terms(x)
            trans = self._solve_translation(x, trans0, betas, obs, groups, fixed_idx, temporal, **terms)
            # no foot under the floor: the frames whose lowest foot that fit left under it are fitted
            # once more with that foot on it. Only here, at the end: inside the iterations the lift,
            # switching on and off frame by frame, made Refine's root jump 12-12.5 cm in one frame
            lifted = losses.lifted_onto_floor(terms.get("plane"), x, trans)
            if lifted is not None:
                trans = self._solve_translation(x, trans0, betas, obs, groups, fixed_idx, temporal, plane=lifted,
                                                steps=terms.get("steps"))
        return x.detach(), trans.detach(), history

    def refine_sequence(self, x, trans, betas, obs: Observation, fps=30.0, temporal=True, views=1,
                        job: JobContext | None = None):
        """Overlapping windows along time, a few refined together per batch (memory flat in
        the sequence length), blended at the seams; user-fixed rows come out exactly as given.
        With ``views`` > 1 the rows are simultaneous views (view-major) refined together."""
        frames = x.shape[0] // views
        per_batch = self.config.windows_per_batch if views == 1 else 1

        def solve(spans):
            idx = torch.cat([torch.arange(v * frames + s, v * frames + e, device=x.device)
                             for s, e in spans for v in range(views)])
            groups = len(spans) * views
            rx, rt, _ = self.refine_window(x[idx], trans[idx], betas, obs.select(idx), temporal=temporal, fps=fps,
                                           groups=groups, groups_are_views=views > 1, job=job)
            rx, rt = rx.reshape(len(spans), views, -1, rx.shape[-1]), rt.reshape(len(spans), views, -1, 3)
            return list(zip(rx, rt))

        out = windowed(frames, x.reshape(views, frames, -1), trans.reshape(views, frames, -1), self.config,
                       temporal, solve, per_batch, job)
        out_x, out_t = out[0].reshape(x.shape), out[1].reshape(trans.shape)
        for i, v in obs.fixed_x.items():
            out_x[i] = v
        return out_x, out_t


def hip_centred(points):
    """(N, 33, 3) landmarks relative to the midpoint of the hips (MediaPipe's world origin)."""
    return points - points[:, list(HIPS)].mean(1, keepdim=True)


def ray_rotation(keypoints, focal, principal):
    """(N, 3, 3) the smallest rotations taking the optical axis onto the ray through the hips'
    midpoint (identity where the hips were not seen): the axes of a camera looking straight
    at the person, which a crop-based detector's 3D is expressed in."""
    hips = keypoints[:, list(HIPS)]
    seen = (hips[..., 2] > VISIBLE).all(1)
    xy = (hips[..., :2].mean(1) - principal) / focal[:, None]
    xy = torch.where(seen[:, None], xy, torch.zeros_like(xy))
    ray = torch.nn.functional.normalize(torch.cat([xy, torch.ones_like(xy[:, :1])], 1), dim=1)
    axis = torch.stack([-ray[:, 1], ray[:, 0], torch.zeros_like(ray[:, 0])], 1)   # z x ray
    k = torch.zeros(ray.shape[0], 3, 3, dtype=ray.dtype, device=ray.device)
    k[:, 0, 2], k[:, 1, 2], k[:, 2, 0], k[:, 2, 1] = axis[:, 1], -axis[:, 0], -axis[:, 1], axis[:, 0]
    k[:, 0, 1], k[:, 1, 0] = -axis[:, 2], axis[:, 2]
    return torch.eye(3, dtype=ray.dtype, device=ray.device) + k + k @ k / (1 + ray[:, 2])[:, None, None]


def time_difference(x, order):
    """First (velocity) or second (acceleration) difference along dim 1."""
    for _ in range(order):
        x = x[:, 1:] - x[:, :-1]
    return x


def gaussian_smooth(x, sigma, valid=None):
    """``x`` (T, ...) filtered over time with a Gaussian of ``sigma`` frames. Only ``valid``
    frames (T,) bool (default all) contribute; the weights are renormalised, so the ends and the
    frames next to gaps are not pulled toward zero. 6D rotations stay valid (re-orthonormalised
    when read)."""
    x = torch.as_tensor(x)
    valid = torch.ones(len(x), dtype=torch.bool, device=x.device) if valid is None else torch.as_tensor(valid, device=x.device)
    radius = max(1, int(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    index = torch.arange(len(x), device=x.device)[:, None] + offsets.long()[None]   # (T, K)
    inside = (index >= 0) & (index < len(x))
    near = index.clamp(0, len(x) - 1)
    w = kernel[None] * (inside & valid[near])
    flat = x.reshape(len(x), -1).double()
    out = (w[..., None] * flat[near]).sum(1) / w.sum(1, keepdim=True).clamp(min=1e-12)
    return out.to(x.dtype).reshape(x.shape)


def difference_gram(length, order):
    """D^T D (float64) for the order-th difference D over ``length`` frames: the smoothness
    term's quadratic form, sum |D x|^2 = x^T (D^T D) x."""
    d = time_difference(torch.eye(length, dtype=torch.float64)[None], order)[0]
    return d.T @ d


_OPERATORS = {}


def smoothing_operator(length, strength, order, dtype, device):
    """(I + strength D^T D)^-1 for the order-th difference D over ``length`` frames: one small
    dense matrix per (length, strength), cached; applying it is a batched matmul."""
    key = (length, round(float(strength), 9), order, dtype, str(device))
    if key not in _OPERATORS:
        if len(_OPERATORS) > 64:
            _OPERATORS.clear()
        system = torch.eye(length, dtype=torch.float64) + float(strength) * difference_gram(length, order)
        _OPERATORS[key] = torch.linalg.inv(system).to(dtype=dtype, device=device)
    return _OPERATORS[key]


def windowed(frames, x, trans, config, temporal, solve, per_batch=1, job: JobContext | None = None):
    """Cover ``frames`` with overlapping windows of ``config.window`` frames, hand them to
    ``solve(spans) -> [(x, trans) per span]`` ``per_batch`` at a time (x, trans: (views,
    frames, D)), and blend them with linear ramps over the overlaps. Without temporal terms
    the windows are plain batches. Progress goes to ``job`` as stage "refine"."""
    job = job or JobContext()
    n, size, overlap = frames, config.window, config.overlap
    if not temporal:
        spans = [(s, min(n, s + size)) for s in range(0, n, size)]
        per_batch = 1  # the last window may be shorter
    elif n <= size:
        spans = [(0, n)]
    else:
        # as few windows as cover n, spread evenly and shortened to match: all of one length
        # (they are batched), and no more rows than n + overlaps (100 frames: 2 x 58, not 2 x 96)
        count = -(-(n - overlap) // (size - overlap))
        size = -(-(n + (count - 1) * overlap) // count)
        starts = [round(i * (n - size) / (count - 1)) for i in range(count)]
        spans = [(s, s + size) for s in starts]
    blend = temporal and len(spans) > 1
    out_x, out_t = torch.zeros_like(x), torch.zeros_like(trans)
    weight = torch.zeros(n, dtype=x.dtype, device=x.device)
    job.report("refine", 0, len(spans))
    for first in range(0, len(spans), per_batch):
        job.check()
        batch = spans[first:first + per_batch]
        for (s, e), (rx, rt) in zip(batch, solve(batch)):
            w = _ramp(e - s, overlap if blend else 0, s > 0, e < n).to(x)
            out_x[:, s:e] += w[:, None] * rx
            out_t[:, s:e] += w[:, None] * rt
            weight[s:e] += w
        job.report("refine", min(first + per_batch, len(spans)), len(spans))
    return out_x / weight[:, None], out_t / weight[:, None]


def _ramp(length, overlap, ramp_in, ramp_out):
    """Blend weights of one window: linear ramps over the overlaps with its neighbours."""
    w = torch.ones(length)
    if overlap > 0:
        ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
        if ramp_in:
            w[:overlap] = ramp
        if ramp_out:
            w[-overlap:] = ramp.flip(0)
    return w
