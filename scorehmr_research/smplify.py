"""The SMPLify-style baseline: direct optimisation on the same inputs and body model.

Same robust 2D keypoint term, temporal smoothness and foot contact as ScoreHMR
(``scorehmr.GuidanceLosses``), plus what SMPLify brings instead of a diffusion prior: a
Gaussian-mixture pose prior (fitted on the same training motion as the diffusion model,
``python -m scorehmr_research fit-pose-gmm``, stored in data/research/pose_gmm.npz; the shipped
checkpoint holds only what inference needs) and joint-angle limits. Adam on 6D rotations and translation,
window by window like ScoreHMR, so the comparison is fair.
"""
import math
import os
from dataclasses import dataclass, replace

import numpy as np
import torch

from backend import DATA_DIR
from backend.geometry import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_axis_angle
from backend.scorehmr import GuidanceLosses, Observation, ScoreHMRConfig, windowed

from .joint_limits import limit_violation


def fit_pose_gmm(body_pose_aa: torch.Tensor, components=8, iterations=60, seed=0):
    """EM for a full-covariance Gaussian mixture over body poses (N, 69) axis-angle."""
    g = torch.Generator().manual_seed(seed)
    x = body_pose_aa.double()
    n, d = x.shape
    means = x[torch.randperm(n, generator=g)[:components]].clone()
    covs = torch.eye(d, dtype=x.dtype).repeat(components, 1, 1) * x.var(0).mean()
    weights = torch.full((components,), 1.0 / components, dtype=x.dtype)
    for _ in range(iterations):
        logp = _component_log_prob(x, means, covs) + weights.log()
        resp = torch.softmax(logp, dim=1)
        nk = resp.sum(0) + 1e-9
        weights = nk / n
        means = (resp.T @ x) / nk[:, None]
        diff = x[:, None] - means[None]
        covs = torch.einsum("nk,nki,nkj->kij", resp, diff, diff) / nk[:, None, None]
        covs = covs + 1e-3 * torch.eye(d, dtype=x.dtype)
    return {"means": means.float(), "precisions": torch.linalg.inv(covs).float(), "weights": weights.float(),
            "log_dets": torch.logdet(covs).float()}


DEFAULT_POSE_GMM = os.path.join(DATA_DIR, "research", "pose_gmm.npz")


def save_pose_gmm(path, gmm):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, **{k: v.numpy() for k, v in gmm.items()})


def load_pose_gmm(path=None):
    """The pose prior's mixture as float32 tensors (means, precisions, weights, log_dets)."""
    with np.load(path or DEFAULT_POSE_GMM, allow_pickle=False) as f:
        return {k: torch.from_numpy(f[k]) for k in ("means", "precisions", "weights", "log_dets")}


def _component_log_prob(x, means, covs):
    d = x.shape[1]
    diff = x[:, None] - means[None]
    prec = torch.linalg.inv(covs)
    maha = torch.einsum("nki,kij,nkj->nk", diff, prec, diff)
    return -0.5 * (maha + torch.logdet(covs)[None] + d * math.log(2 * math.pi))


def gmm_energy(body_pose_aa, gmm):
    """SMPLify's max-mixture energy: the best component's negative log-likelihood (N,)."""
    diff = body_pose_aa[:, None] - gmm["means"][None]
    maha = torch.einsum("nki,kij,nkj->nk", diff, gmm["precisions"], diff)
    energy = 0.5 * maha + 0.5 * gmm["log_dets"][None] - gmm["weights"].log()[None]
    return energy.min(1).values


@dataclass
class SMPLifyConfig:
    iterations: int = 150
    lr: float = 0.02
    pose_prior: float = 0.02
    joint_limits: float = 10.0
    # pose smoothness weight for the baseline, tuned for it as ScoreHMR's was for ScoreHMR
    # (bench/tune_guidance.py --method smplify, training clips); None: ScoreHMR's weight
    smooth_pose: float | None = 4000.0


class SMPLify:
    def __init__(self, body, gmm, config: SMPLifyConfig | None = None, losses: ScoreHMRConfig | None = None):
        self.body, self.gmm = body, {k: v.to(body.device) for k, v in gmm.items()}
        self.config = config or SMPLifyConfig()
        self.losses = losses or ScoreHMRConfig()
        if self.config.smooth_pose is not None:
            self.losses = replace(self.losses, smooth_pose=self.config.smooth_pose)

    def fit_window(self, x, trans, betas, obs: Observation, temporal=True, fps=30.0):
        cfg = self.config
        data = GuidanceLosses(self.body, betas, obs, self.losses, temporal=temporal, fps=fps)
        # like SMPLify, optimise axis-angle (its prior and limits live there; the map to
        # rotations has a finite gradient everywhere, unlike the way back)
        n = x.shape[0]
        aa = rot6d_to_axis_angle(x.detach().reshape(n, 24, 6)).requires_grad_(True)
        trans = trans.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([aa, trans], lr=cfg.lr)
        for i in range(cfg.iterations):
            x6 = matrix_to_rot6d(axis_angle_to_matrix(aa)).reshape(n, -1)
            if temporal and self.losses.foot_contact and i % 50 == 0:
                data.update_contacts(x6.detach(), trans.detach())
            if i % 50 == 0:  # as ScoreHMR re-aligns the world landmarks once per iteration
                data.update_world_alignment(x6.detach())
            loss = data(x6, trans) + cfg.pose_prior * gmm_energy(aa[:, 1:].reshape(-1, 69), self.gmm).sum() \
                + cfg.joint_limits * (limit_violation(aa)[:, 1:] ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return matrix_to_rot6d(axis_angle_to_matrix(aa.detach())).reshape(n, -1), trans.detach()

    def fit_sequence(self, x, trans, betas, obs: Observation, fps=30.0, temporal=True):
        """Same overlapping windows and seam blending as ScoreHMR.refine_sequence."""
        def solve(spans):
            (s, e), = spans
            rows = torch.arange(s, e, device=x.device)
            rx, rt = self.fit_window(x[rows], trans[rows], betas, obs.select(rows), temporal, fps)
            return [(rx[None], rt[None])]

        out_x, out_t = windowed(x.shape[0], x[None], trans[None], self.losses, temporal, solve)
        return out_x[0], out_t[0]
