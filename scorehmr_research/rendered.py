"""Training pairs from rendered real-detector data (data/renders/train, format in data/README.md):
exact poses of rendered bodies with what the real MediaPipe reported on the frames, so that the
prior and the initial estimator learn the detector's systematic offsets, which the synthetic
noise model cannot show. Mixed into the synthetic batches by ``train-prior --renders``.
"""
import glob
import os

import numpy as np
import torch

from backend.condition import VISIBLE, make_condition
from backend.geometry import axis_angle_to_matrix, matrix_to_rot6d
from smplcore.skeleton import LANDMARK_MIRROR, NUM_JOINTS

from .synthetic import mirror

MIN_VISIBLE = 6  # landmarks a frame needs to be a training pair (as the solver's observed frames)


def render_files(folder):
    """The rendered views under ``folder``; never the held-out split (the benchmark's)."""
    if "heldout" in os.path.abspath(folder).split(os.sep):
        raise ValueError(f"{folder}: held-out renders are for the benchmark only, never for training")
    files = sorted(glob.glob(os.path.join(folder, "*.npz")))
    if not files:
        raise ValueError(f"no rendered views (*.npz) in {folder}")
    return files


class RenderedObservations:
    """Every detected frame of the rendered training views; ``batch`` draws frames at random,
    half of them mirrored (image and pose together)."""

    def __init__(self, folder, generator=None, mirror_prob=0.5):
        kp, world, focal, principal, rotmats, betas, clips, self.files = [], [], [], [], [], [], set(), []
        for path in render_files(folder):
            with np.load(path, allow_pickle=False) as z:
                keep = z["found"].astype(bool) & ((z["keypoints_2d"][..., 2] > VISIBLE).sum(-1) >= MIN_VISIBLE)
                n = int(keep.sum())
                if n == 0:
                    continue
                kp.append(torch.as_tensor(z["keypoints_2d"][keep], dtype=torch.float32))
                world.append(torch.as_tensor(z["world_landmarks"][keep], dtype=torch.float32))
                focal.append(torch.full((n,), float(z["focal_length"])))
                principal.append(torch.as_tensor(z["image_size"], dtype=torch.float32).expand(n, 2) / 2)
                poses = torch.as_tensor(z["poses"][keep], dtype=torch.float32).reshape(n, NUM_JOINTS, 3)
                rotmats.append(axis_angle_to_matrix(poses))
                betas.append(torch.as_tensor(z["betas"], dtype=torch.float32)[:10].expand(n, 10))
                clips.add(str(z["clip"]))
                self.files.append(os.path.basename(path))
        if not kp:
            raise ValueError(f"no detected frame in the renders under {folder}")
        self.keypoints, self.focal, self.principal = torch.cat(kp), torch.cat(focal), torch.cat(principal)
        self.world = torch.cat(world)
        self.rotmats, self.betas, self.clips = torch.cat(rotmats), torch.cat(betas), sorted(clips)
        self.g = generator or torch.Generator().manual_seed(0)
        self.mirror_prob = mirror_prob

    def __len__(self):
        return self.keypoints.shape[0]

    def batch(self, n):
        idx = torch.randint(0, len(self), (n,), generator=self.g)
        kp, rot, world = self.keypoints[idx].clone(), self.rotmats[idx].clone(), self.world[idx].clone()
        focal, principal = self.focal[idx], self.principal[idx]
        flip = torch.rand(n, generator=self.g) < self.mirror_prob
        # the mirror image about the principal point's vertical: x -> 2 c_x - x, sides swapped
        kp[flip] = kp[flip][:, list(LANDMARK_MIRROR)]
        kp[flip, :, 0] = torch.where(kp[flip, :, 2] > 0, 2 * principal[flip, None, 0] - kp[flip, :, 0], kp[flip, :, 0])
        rot[flip] = mirror(rot[flip])
        world[flip] = world[flip][:, list(LANDMARK_MIRROR)] * torch.tensor([-1.0, 1.0, 1.0])   # (camera axes)
        return {"x0": matrix_to_rot6d(rot).reshape(n, -1), "c": make_condition(kp, focal, principal),
                "rotmats": rot, "betas": self.betas[idx], "world": world}
