"""Detector-like noise for synthetic MediaPipe observations, calibrated on real MediaPipe output.

``NoiseModel.load()`` reads ``data/noise_model.json`` (measured by ``tools/calibrate_noise.py``
on the 4 calibrated Pose2Sim views) and turns clean projected landmarks into what MediaPipe
would report: per-landmark Gaussian error scaled by the person's size, a heavy tail of gross
outliers, drop-outs (low visibility, larger error), left/right label swaps, optional limb or
side occlusions, and visibility-like confidences drawn from the measured distributions.
In temporal mode the error follows the measured frame-to-frame correlation (AR(1)), and
outliers, drop-outs, swaps and occlusions last for stretches of frames.

Everything is vectorised torch; the time axis (temporal mode) is dim -3 of ``(..., T, 33, 2)``.
"""
import json
import math
import os

import torch

from backend.condition import person_size
from smplcore.skeleton import LANDMARK_INDEX, LANDMARK_MIRROR, LANDMARK_NAMES

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "noise_model.json")

_ARM = ("shoulder", "elbow", "wrist", "pinky", "index", "thumb")
_LEG = ("hip", "knee", "ankle", "heel", "foot_index")
SWAP_PARTS = {  # as measured by tools/calibrate_noise.py
    "body": [n for n in LANDMARK_NAMES if n != "nose"],
    "arms": [f"{s}_{p}" for s in ("left", "right") for p in _ARM],
    "legs": [f"{s}_{p}" for s in ("left", "right") for p in _LEG],
}
OCCLUSION_PARTS = {  # what a prop, the frame edge or the body itself hides
    **{f"{s}_arm": [f"{s}_{p}" for p in _ARM[1:]] for s in ("left", "right")},
    **{f"{s}_leg": [f"{s}_{p}" for p in _LEG[1:]] for s in ("left", "right")},
    **{f"{s}_side": [n for n in LANDMARK_NAMES if n.startswith(s) or n == f"mouth_{s}"] for s in ("left", "right")},
}


class NoiseModel:
    """Measured MediaPipe noise; occlusion settings are assumptions (the calibration scene had none).

    occlusion_rate: fraction of frames with one limb or side hidden; occlusion_frames: mean length
    of an occlusion at the measured frame rate.
    """

    def __init__(self, params: dict, occlusion_rate: float = 0.05, occlusion_frames: float = 30.0):
        self.params = params
        lm = params["landmarks"]
        if lm["names"] != list(LANDMARK_NAMES):
            raise ValueError("noise model landmarks are not MediaPipe's 33 in order")
        t = lambda key: torch.tensor(lm[key], dtype=torch.float32)  # noqa: E731
        self.sigma, self.rho = t("sigma"), t("rho")
        self.outlier_rate, self.outlier_excess = t("outlier_rate"), t("outlier_excess")
        self.dropout_rate = t("dropout_rate")
        self.vis_logit = (t("visibility_logit_mean"), t("visibility_logit_std"))
        self.outlier_sigmas = params["outliers"]["threshold_sigmas"]
        self.outlier_frames = params["outliers"]["mean_duration_frames"] or 1.0
        self.outlier_vis = params["outliers"]["visibility"]
        drop = params["dropouts"]
        self.dropout_threshold = drop["visibility_threshold"]
        self.dropout_sigma, self.dropout_frames, self.dropout_vis = drop["sigma"], drop["mean_duration_frames"] or 1.0, drop["visibility"]
        self.frame_miss_rate = drop["frame_miss_rate"]
        swaps = params["swaps"]
        self.swap_rates = {part: swaps[part]["rate"] for part in SWAP_PARTS}
        self.swap_frames = swaps["any"]["mean_duration_frames"] or 1.0
        self.fps = params["source"]["fps"]
        self.occlusion_rate, self.occlusion_frames = occlusion_rate, occlusion_frames
        mirror = torch.arange(len(LANDMARK_NAMES))
        self._swap_maps = []  # per part: landmark index map with that part relabelled left<->right
        for names in SWAP_PARTS.values():
            m = mirror.clone()
            idx = torch.tensor([LANDMARK_INDEX[n] for n in names])
            m[idx] = torch.tensor(LANDMARK_MIRROR)[idx]
            self._swap_maps.append(m)
        self._occlusion_masks = torch.zeros(len(OCCLUSION_PARTS), len(LANDMARK_NAMES), dtype=torch.bool)
        for i, names in enumerate(OCCLUSION_PARTS.values()):
            self._occlusion_masks[i, [LANDMARK_INDEX[n] for n in names]] = True

    @classmethod
    def load(cls, path=None, **kwargs) -> "NoiseModel":
        with open(path or DEFAULT_PATH) as f:
            return cls(json.load(f), **kwargs)

    # --- sampling --------------------------------------------------------------------------
    def apply(self, kp2d_clean: torch.Tensor, scale: torch.Tensor | None = None, generator=None,
              temporal: bool = False, fps: float | None = None, occlusions: bool = True) -> torch.Tensor:
        """Clean pixels (..., N, 33, 2) -> noisy pixels + confidence (..., N, 33, 3).

        scale: (..., N) person size in px (default: ``person_size`` of the clean landmarks).
        temporal: dim -3 is time at ``fps`` (default: the calibration's), noise is correlated
        over it; otherwise every frame is independent. Frames MediaPipe would miss are all zero.
        """
        kp = kp2d_clean.float()
        if scale is None:
            scale = person_size(kp)
        lead, n = kp.shape[:-3], kp.shape[-3]
        step = (self.fps / fps) if (temporal and fps) else 1.0   # calibration frames per output frame
        g = _Sampler(lead + (n,), generator, kp.device, temporal, step)
        sigma = self.sigma.to(kp.device)

        part = g.events(self.swap_rates, self.swap_frames)                                   # (..., N) -1: none
        swapped = part >= 0
        if swapped.any():
            maps = torch.stack(self._swap_maps).to(kp.device)[part[swapped]]
            kp = kp.clone()
            kp[swapped] = torch.gather(kp[swapped], -2, maps[..., None].expand(-1, -1, 2))

        dropped = g.flags(self.dropout_rate, self.dropout_frames)                            # (..., N, 33)
        if occlusions and self.occlusion_rate > 0:
            rates = {name: self.occlusion_rate / len(OCCLUSION_PARTS) for name in OCCLUSION_PARTS}
            hidden = g.events(rates, self.occlusion_frames)
            shown = hidden >= 0
            dropped[shown] |= self._occlusion_masks.to(kp.device)[hidden[shown]]
        outlier = g.flags(self.outlier_rate, self.outlier_frames) & ~dropped

        # the common case for every landmark, then the rare drop-outs and outliers where they are
        error = g.correlated_normal(self.rho.to(kp.device)).mul_(sigma[:, None]).mul_(scale[..., None, None])
        confidence = g.normal().mul_(self.vis_logit[1]).add_(self.vis_logit[0]).sigmoid_().clamp_(min=self.dropout_threshold)
        where = dropped.nonzero(as_tuple=True)
        if where[0].numel():
            error[where] *= (self.dropout_sigma / sigma[where[-1]])[:, None]
            confidence[where] = self.dropout_threshold * _sigmoid_normal(g, self.dropout_vis, where[0].numel())
        where = outlier.nonzero(as_tuple=True)
        if where[0].numel():  # beyond the threshold by an exponential excess, in a random direction
            count = where[0].numel()
            angle = 2 * math.pi * g.draw(count)
            radius = self.outlier_sigmas * sigma[where[-1]] - self.outlier_excess.to(kp.device)[where[-1]] * torch.log1p(-g.draw(count))
            error[where] = torch.stack([angle.cos(), angle.sin()], -1) * (radius * scale[where[:-1]])[:, None]
            confidence[where] = _sigmoid_normal(g, self.outlier_vis, count).clamp_(min=self.dropout_threshold)

        out = torch.cat([kp + error, confidence[..., None]], -1)
        if self.frame_miss_rate > 0:
            out[g.uniform(()) < self.frame_miss_rate] = 0
        return out

    # --- reporting -------------------------------------------------------------------------
    def describe(self) -> dict:
        """The measured figures per landmark group, the model's settings and what was assumed."""
        p = self.params
        return {
            "source": p["source"], "created": p["created"], "person_size": p["person_size"],
            "measured": {"groups": p["groups"], "swaps": p["swaps"], "dropouts": p["dropouts"],
                         "outliers": {k: p["outliers"][k] for k in ("threshold_sigmas", "count", "mean_duration_frames")}},
            "model": {"error": "per-landmark Gaussian (sigma x person size), AR(1) over time with rho at "
                               f"{self.fps:g} fps; outliers at threshold_sigmas x sigma + exponential excess",
                      "occlusion_rate": self.occlusion_rate, "occlusion_frames": self.occlusion_frames,
                      "assumed": ["occlusion_rate", "occlusion_frames"]},
            "caveats": p["caveats"],
        }


def summarize(noisy: torch.Tensor, clean: torch.Tensor, scale: torch.Tensor, model: NoiseModel) -> dict:
    """The calibration's statistics computed on model output, for 'measured vs model' tables.

    Returns per-landmark tensors: sigma (robust, per axis, over person size), outlier_rate and
    dropout_rate, with the calibration's definitions.
    """
    conf = noisy[..., 2]
    visible = conf >= model.dropout_threshold
    norm = (noisy[..., :2] - clean).norm(dim=-1) / scale[..., None]
    norm, visible = norm.reshape(-1, 33), visible.reshape(-1, 33)
    sigma, outlier_rate = [], []
    for l in range(33):
        v = norm[visible[:, l], l]
        s = v.median() / math.sqrt(2 * math.log(2))
        for _ in range(5):
            s = (v[v < model.outlier_sigmas * s] ** 2).mean().div(2).sqrt()
        sigma.append(s)
        outlier_rate.append((v > model.outlier_sigmas * model.sigma[l]).float().mean())
    return {"sigma": torch.stack(sigma), "outlier_rate": torch.stack(outlier_rate),
            "dropout_rate": 1 - visible.float().mean(0)}


def _sigmoid_normal(g, moments, count):
    return torch.sigmoid(moments["logit_mean"] + moments["logit_std"] * g.draw(count, normal=True))


class _Sampler:
    """Random draws of one ``apply`` call: shape (..., N) frames x 33 landmarks, time on dim -1 of frames."""

    def __init__(self, frames, generator, device, temporal, step):
        self.frames, self.generator, self.device = tuple(frames), generator, device
        self.temporal, self.step = temporal, step

    def uniform(self, tail=(33,)):
        return torch.rand(self.frames + tuple(tail), generator=self.generator, device=self.device)

    def normal(self, *tail):
        return torch.randn(self.frames + (33,) + tail, generator=self.generator, device=self.device)

    def draw(self, count, normal=False):
        """``count`` independent draws, for the sparse rare cases."""
        sample = torch.randn if normal else torch.rand
        return sample(count, generator=self.generator, device=self.device)

    def correlated_normal(self, rho):
        """Unit normal (..., N, 33, 2); AR(1) along time with per-landmark rho in temporal mode."""
        z = torch.randn(self.frames + (33, 2), generator=self.generator, device=self.device)
        if not self.temporal:
            return z
        rho = (rho ** self.step)[:, None]
        z = torch.cat([z[..., :1, :, :], z[..., 1:, :, :] * (1 - rho ** 2).sqrt()], -3)
        return _linear_recurrence(z, rho)

    def flags(self, rate, frames):
        """(..., N, 33) bool, per landmark on a fraction ``rate`` of frames; in temporal mode in runs."""
        rate = torch.as_tensor(rate, device=self.device)
        if not self.temporal:
            return self.uniform() < rate
        return self._runs(self.uniform(), rate, frames) >= 0

    def events(self, rates: dict, frames):
        """(..., N) long: which of the exclusive kinds in ``rates`` is active per frame, -1 for none."""
        total = sum(rates.values())
        if total <= 0:
            return torch.full(self.frames, -1, dtype=torch.long, device=self.device)
        u = self.uniform(())
        start = self._runs(u, torch.tensor(total, device=self.device), frames) if self.temporal else \
            torch.where(u < total, torch.arange(self.frames[-1], device=self.device).expand(self.frames), -1)
        # the kind of each event, drawn from a second uniform at the event's first frame
        edges = torch.tensor(list(rates.values()), device=self.device).cumsum(0) / total
        kind = torch.searchsorted(edges, self.uniform(()).contiguous() * (1 - 1e-6))
        return torch.where(start >= 0, torch.gather(kind, -1, start.clamp(min=0)), -1)

    def _runs(self, u, rate, frames):
        """Index of the frame where the active run began (-1: inactive), runs of mean length ``frames``.

        Runs start with probability p per frame and a later start cuts the earlier run; the active
        fraction p*L / (1 + p*L - p) then equals ``rate`` for p below.
        """
        length = max(frames / self.step, 1.0)
        p = (rate / (length * (1 - rate) + rate)).clamp(max=1.0)
        n = self.frames[-1]
        time = torch.arange(n, device=self.device).view((n,) + (1,) * (u.dim() - len(self.frames)))
        began = torch.where(u < p, time.expand_as(u), torch.full_like(time, -1).expand_as(u))
        last = began.cummax(dim=len(self.frames) - 1).values
        # geometric run lengths with mean ``length``, drawn at the start frame
        duration = torch.ceil(torch.log1p(-self.uniform(u.shape[len(self.frames):]))
                              / math.log1p(-1 / length)) if length > 1 else torch.ones_like(u)
        end = last + torch.gather(duration, len(self.frames) - 1, last.clamp(min=0))
        return torch.where((last >= 0) & (time < end), last, torch.full_like(last, -1))


def _linear_recurrence(b, rho):
    """x_t = rho x_{t-1} + b_t along dim -3, by log-step doubling (Hillis-Steele scan): exact, O(N log N)."""
    x, n, shift, factor = b.clone(), b.shape[-3], 1, rho
    while shift < n:
        x[..., shift:, :, :] += factor * x[..., :-shift, :, :]  # the right side is evaluated first: old values
        shift, factor = shift * 2, factor * factor
    return x
