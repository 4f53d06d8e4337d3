"""MediaPipe's world landmarks for synthetic observations, measured against exact truth on
rendered training views (data/renders/train: the real detector on renders of known bodies).

MediaPipe reports the body hip-centred, in metres, in the axes of a camera looking at the
hips (``backend.scorehmr.ray_rotation``). Against the truth in those axes, per landmark: the
image-plane axes are scaled by ``xy_scale`` (a body of MediaPipe's typical size), depth by
``depth_factor`` (compressed: ~0.68 on renders and on the Pose2Sim views), plus a mean offset
(where MediaPipe puts the landmark) and an error with per-axis spread and frame-to-frame
correlation. Low-visibility landmarks err ``low_visibility_gain`` times more.

    python -m scorehmr_research.world_noise [--renders data/renders/train] [--out data/world_noise_model.json]
"""
import argparse
import json
import os

import numpy as np
import torch

from backend.scorehmr import hip_centred, ray_rotation

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                            "world_noise_model.json")
LOW_VISIBILITY = 0.8


def measure(files, body):
    """Statistics of MediaPipe's world landmarks against the rendered truth (see module doc)."""
    truth, reported, visibility, runs = [], [], [], []
    for path in files:
        with np.load(path, allow_pickle=False) as z:
            found = z["found"].astype(bool)
            n = len(found)
            poses = torch.as_tensor(z["poses"], dtype=torch.float32)
            betas = torch.as_tensor(z["betas"], dtype=torch.float32)[None].expand(n, -1)
            lm = body.landmarks(poses, betas, torch.as_tensor(z["trans"], dtype=torch.float32))
            focal = torch.full((n,), float(z["focal_length"]))
            principal = torch.as_tensor(z["image_size"], dtype=torch.float32).expand(n, 2) / 2
            seen = torch.cat([focal[:, None, None] * lm[..., :2] / lm[..., 2:] + principal[:, None],
                              torch.ones_like(lm[..., :1])], -1)
            axes = ray_rotation(seen, focal, principal)
            truth.append((hip_centred(lm) @ axes)[found])
            reported.append(torch.as_tensor(z["world_landmarks"], dtype=torch.float32)[found])
            visibility.append(torch.as_tensor(z["keypoints_2d"][..., 2])[found])
            runs.append(int(found.sum()))
    t, m, vis = torch.cat(truth).double(), torch.cat(reported).double(), torch.cat(visibility)
    xy_scale = float((m[..., :2] * t[..., :2]).sum() / (t[..., :2] ** 2).sum())
    depth_factor = float((m[..., 2] * t[..., 2]).sum() / (t[..., 2] ** 2).sum())
    residual = m - t * torch.tensor([xy_scale, xy_scale, depth_factor], dtype=m.dtype)
    good = vis >= LOW_VISIBILITY
    offset = torch.stack([residual[good[:, l], l].mean(0) for l in range(33)])
    centred = residual - offset
    sigma = torch.stack([centred[good[:, l], l].pow(2).mean(0).sqrt() for l in range(33)])
    low = (centred.norm(dim=-1)[~good].mean() / centred.norm(dim=-1)[good].mean()) if (~good).any() else torch.tensor(1.0)
    # frame-to-frame correlation of the error, within each view
    pairs, start = [], 0
    for k in runs:
        e = centred[start:start + k]
        if k > 1:
            pairs.append((e[1:] * e[:-1]).sum() / (e[:-1] ** 2).sum().clamp(min=1e-12))
        start += k
    rho = float(torch.stack(pairs).mean()) if pairs else 0.0
    return {"views": len(files), "frames": int(sum(runs)), "xy_scale": round(xy_scale, 4),
            "depth_factor": round(depth_factor, 4), "rho": round(rho, 3), "low_visibility_gain": round(float(low), 3),
            "offset_m": np.round(offset.numpy(), 4).tolist(), "sigma_m": np.round(sigma.numpy(), 4).tolist()}


class WorldNoise:
    def __init__(self, params):
        self.params = params
        self.xy_scale, self.depth_factor = params["xy_scale"], params["depth_factor"]
        self.offset = torch.tensor(params["offset_m"], dtype=torch.float32)
        self.sigma = torch.tensor(params["sigma_m"], dtype=torch.float32)
        self.rho, self.low_gain = params["rho"], params["low_visibility_gain"]

    @classmethod
    def load(cls, path=None):
        with open(path or DEFAULT_PATH) as fh:
            return cls(json.load(fh))

    def apply(self, landmarks, keypoints, focal, principal, generator=None, temporal=True):
        """Camera-frame landmarks (T, 33, 3) of a sequence and its (noisy) 2D keypoints ->
        MediaPipe-like world landmarks (T, 33, 3), zero where the frame has no keypoints.
        ``temporal`` False: the rows are unrelated frames (a training batch), their noise independent."""
        axes = ray_rotation(keypoints, focal, principal)
        rel = hip_centred(landmarks) @ axes
        scale = torch.tensor([self.xy_scale, self.xy_scale, self.depth_factor])
        z = torch.randn(rel.shape, generator=generator)
        for t in range(1, len(z) if temporal else 0):   # AR(1) over frames, unit variance
            z[t] = self.rho * z[t - 1] + (1 - self.rho ** 2) ** 0.5 * z[t]
        gain = torch.where(keypoints[..., 2:3] < LOW_VISIBILITY, self.low_gain, 1.0)
        world = rel * scale + self.offset + z * self.sigma * gain
        return torch.where((keypoints[..., 2] > 0).any(-1)[:, None, None], world, torch.zeros_like(world))


def main(argv=None):
    from backend.body_model import BodyModel

    from .rendered import render_files

    root = os.path.dirname(DEFAULT_PATH)
    parser = argparse.ArgumentParser(description="measure MediaPipe's world-landmark noise on rendered training views")
    parser.add_argument("--renders", default=os.path.join(root, "renders", "train"))
    parser.add_argument("--out", default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    files = render_files(args.renders)
    params = measure(files, BodyModel.load())
    # the views it measured: the training renders keep growing
    params["source"] = {"renders": os.path.relpath(args.renders, os.path.dirname(root)),
                        "files": [os.path.basename(f) for f in files],
                        "command": "python -m scorehmr_research.world_noise"}
    with open(args.out, "w") as fh:
        json.dump(params, fh, indent=1)
    print(json.dumps({k: v for k, v in params.items() if k not in ("offset_m", "sigma_m", "source")}))


if __name__ == "__main__":
    main()
