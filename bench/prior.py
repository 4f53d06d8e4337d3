"""How good is the trained prior? Held-out clips, observed through the calibrated noise model.

    .venv/bin/python bench/prior.py [--checkpoint FILE] [--samples 2000]

(a) the initial estimator and (b) a conditional DDIM sample from noise: MPJPE / PA-MPJPE (mm,
24 joints, pelvis-aligned); (c) the unconditional prior: share of samples inside the joint
limits, and the denoising error of held-out poses vs random poses (a prior that learned human
poses denoises them better). Writes bench/results/prior.json.
"""
import argparse
import json
import os
import sys
import time

import torch

from backend.body_model import BodyModel
from backend.checkpoints import default_checkpoint_path, load_prior
from backend.geometry import matrix_to_axis_angle, matrix_to_rot6d, rot6d_to_matrix
from scorehmr_research import metrics
from scorehmr_research.joint_limits import inside_limits
from backend.condition import person_size
from scorehmr_research.observation_noise import NoiseModel, summarize
from scorehmr_research.synthetic import MotionBank, SyntheticObservations
from scorehmr_research.training_set import load_clips

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def joints_of(body, x, betas):
    rot = rot6d_to_matrix(x.reshape(-1, 24, 6))
    return body.forward_kinematics(rot, body.rest_joints(betas))[1]


def errors(body, x, batch):
    pred = joints_of(body, x, batch["betas"])
    true = body.forward_kinematics(batch["rotmats"], body.rest_joints(batch["betas"]))[1]
    return {"mpjpe": round(metrics.mpjpe(pred, true), 1), "pa_mpjpe": round(metrics.pa_mpjpe(pred, true), 1)}


def denoising_error(prior, x0, t=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=g)
    tt = torch.full((x0.shape[0],), t, dtype=torch.long)
    eps = prior.denoiser(prior.q_sample(x0, tt, noise), tt, None)
    return float(((eps - noise) ** 2).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=default_checkpoint_path())
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "prior.json"))
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    trained = load_prior(args.checkpoint)
    meta = trained.meta
    heldout = meta.get("heldout") or []
    if not heldout:
        sys.exit("this checkpoint records no held-out clips: train it with --exclude")
    clips = load_clips([os.path.join(ROOT, d) for d in meta["data"]], amass_z_up=meta.get("amass_z_up", False),
                       only=set(heldout))
    body = BodyModel.load()
    noise = NoiseModel.load()
    synth = SyntheticObservations(MotionBank(clips), body, noise, generator=torch.Generator().manual_seed(args.seed),
                                  limit_pose_fraction=0.0, recombine_prob=0.0, mirror_prob=0.0)
    batch = synth.batch(args.samples)

    started = time.time()
    x_init, _ = trained.init(batch["c"])
    init = errors(body, x_init, batch)
    x_cond = trained.diffusion.sample(args.samples, c=batch["c"], steps=50, generator=torch.Generator().manual_seed(1))
    cond = errors(body, x_cond, batch)
    x_unc = trained.diffusion.sample(args.samples, c=None, steps=50, generator=torch.Generator().manual_seed(2))
    aa_unc = matrix_to_axis_angle(rot6d_to_matrix(x_unc.reshape(-1, 24, 6)))
    aa_true = matrix_to_axis_angle(batch["rotmats"])
    random_rot = rot6d_to_matrix(torch.randn(args.samples, 24, 6, generator=torch.Generator().manual_seed(3)))
    uncond = {
        "inside_joint_limits": round(float(inside_limits(aa_unc).float().mean()), 3),
        "heldout_inside_joint_limits": round(float(inside_limits(aa_true).float().mean()), 3),
        "denoise_mse_heldout": round(denoising_error(trained.diffusion, batch["x0"]), 4),
        "denoise_mse_random": round(denoising_error(trained.diffusion, matrix_to_rot6d(random_rot).reshape(args.samples, -1)), 4),
    }
    stats = summarize(batch["keypoints"], batch["clean_keypoints"], person_size(batch["clean_keypoints"]), noise)
    report = {
        "heldout_clips": heldout, "samples": args.samples, "checkpoint": os.path.relpath(args.checkpoint, ROOT),
        "training": {k: meta.get(k) for k in ("step", "frames", "seed", "batch_size", "lr")},
        "methods": {"init": init, "conditional_sample": cond},
        "unconditional": uncond,
        # mean over the 33 landmarks; the synthetic dropout rate also counts landmarks outside the frame
        "noise_model": {"measured": {"sigma": round(float(noise.sigma.mean()), 4)},
                        "model_output": {k: round(float(v.mean()), 4) for k, v in stats.items()},
                        "groups_measured": noise.describe()["measured"]["groups"]},
        "seconds": round(time.time() - started, 1),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"held-out clips: {', '.join(heldout)} ({args.samples} noisy observations)")
    print(f"{'method':<22}{'MPJPE mm':>10}{'PA-MPJPE mm':>13}")
    for name, m in report["methods"].items():
        print(f"{name:<22}{m['mpjpe']:>10.1f}{m['pa_mpjpe']:>13.1f}")
    print(f"unconditional samples inside joint limits: {uncond['inside_joint_limits']:.1%} "
          f"(held-out truth: {uncond['heldout_inside_joint_limits']:.1%})")
    print(f"denoising MSE at t=100: held-out poses {uncond['denoise_mse_heldout']:.4f} vs random poses "
          f"{uncond['denoise_mse_random']:.4f}")
    nm = report["noise_model"]
    print(f"2D noise sigma (over person size): measured {nm['measured']['sigma']:.4f}, "
          f"model output {nm['model_output']['sigma']:.4f}")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
