"""Accuracy of every method on the held-out clips, seen through the calibrated noise model.

    .venv/bin/python bench/accuracy.py [--checkpoint FILE] [--seeds 0 1 2 3]

Each held-out clip is filmed by a random static camera per seed (several seeds: the figures
swing with the viewpoint, a single camera per clip is not enough) (temporal detector noise, drop-outs,
occlusions, swaps as measured on real MediaPipe output); every method gets the same noisy 2D
landmarks and the same initial estimate. Methods: init (per-frame estimate), smplify
(optimisation with a GMM pose prior, joint limits and the same temporal terms),
scorehmr_single (per-frame guidance), scorehmr_temporal (video guidance).
Writes bench/results/accuracy.json.
"""
import argparse
import json
import os
import time

import torch

from backend.body_model import BodyModel
from backend.camera import project
from backend.checkpoints import default_checkpoint_path, load_prior
from backend.device import solver_cpu_threads
from backend.geometry import rot6d_to_matrix
from backend.scorehmr import FEET, ScoreHMR, ScoreHMRConfig
from backend.solver import camera_tensors, initial_state
from scorehmr_research import metrics
from scorehmr_research.observation_noise import NoiseModel
from scorehmr_research.smplify import SMPLify, SMPLifyConfig, load_pose_gmm
from scorehmr_research.synthetic import observe_sequence
from scorehmr_research.world_noise import DEFAULT_PATH as WORLD_NOISE_PATH
from scorehmr_research.world_noise import WorldNoise
from scorehmr_research.training_set import load_clips

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

METHODS = ("init", "smplify", "scorehmr_single", "scorehmr_temporal")


def load_heldout(meta, names=None):
    """Held-out clips (or the named ones) with their translations: name -> (poses, trans)."""
    names = set(meta["heldout"]) if names is None else set(names)
    return load_clips([os.path.join(ROOT, d) for d in meta["data"]], amass_z_up=meta.get("amass_z_up", False),
                      only=names, with_trans=True)


def evaluate(body, seq, x, trans, betas, fps):
    n = x.shape[0]
    rot = rot6d_to_matrix(x.reshape(n, 24, 6))
    _, joints = body.forward_kinematics(rot, body.rest_joints(betas[None]))
    _, true = body.forward_kinematics(seq["rotmats"], body.rest_joints(seq["betas"][None]))
    pred_w, true_w = joints + trans[:, None], true + seq["trans"][:, None]
    up = seq["camera_rotation"][:, 1]  # world +Y (up) in camera coordinates
    contact = metrics.true_contacts(true_w[:, list(FEET)], up, fps)
    lm = body.landmarks(rot, betas.expand(n, -1), trans)
    focal, principal = camera_tensors(n, seq["focal"], seq["image_size"], x.device)
    return {
        "mpjpe": metrics.mpjpe(joints, true), "pa_mpjpe": metrics.pa_mpjpe(joints, true),
        "accel": metrics.acceleration_error(joints, true) if n >= 3 else float("nan"),
        "foot_slide": metrics.foot_sliding(pred_w[:, list(FEET)], contact),
        "reproj_px": metrics.reprojection_px(project(lm, focal, principal), seq["keypoints"]),
        "root_jitter": float(((trans[2:] - 2 * trans[1:-1] + trans[:-2]).norm(dim=-1).mean()) * 1000),
    }


def run_methods(clips, trained, body, noise, config, methods, seeds=(0,), fps=30.0, smplify_config=None, log=print,
                world_noise=None):
    """Every method on every clip (name -> (poses, trans)), each clip filmed once per seed by a
    fresh random camera. Returns frame-weighted mean metrics overall, the frame count, and the
    same means per seed (one camera per clip: how much the figures swing with the viewpoint)."""
    engine = ScoreHMR(trained.diffusion, body, config)
    smplify = SMPLify(body, load_pose_gmm(), smplify_config, losses=config)
    per_seed = {seed: {m: {} for m in methods} for seed in seeds}   # frame-weighted sums
    seed_frames = dict.fromkeys(seeds, 0)
    seconds = {m: 0.0 for m in methods}
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        for name, (poses, clip_trans) in sorted(clips.items()):
            if clip_trans is None:
                clip_trans = torch.zeros(len(poses), 3)
            seq = observe_sequence(poses, clip_trans, body, noise, g, fps=fps, world_noise=world_noise)
            n = len(poses)
            focal, principal = camera_tensors(n, seq["focal"], seq["image_size"], "cpu")
            with torch.no_grad():
                state = initial_state(trained, body, body, seq["keypoints"], focal, principal, world=seq["world"])
            b = state.betas
            for method in methods:
                started = time.perf_counter()
                if method == "init":
                    x, t = state.x, state.trans
                elif method == "smplify":
                    x, t = smplify.fit_sequence(state.x, state.trans, b[None], state.obs, fps=fps)
                else:
                    x, t = engine.refine_sequence(state.x, state.trans, b[None], state.obs, fps=fps,
                                                  temporal=method == "scorehmr_temporal")
                seconds[method] += time.perf_counter() - started
                with torch.no_grad():
                    scores = evaluate(body, seq, x, t, b, fps)
                sums = per_seed[seed][method]
                for k, v in scores.items():
                    sums[k] = sums.get(k, 0.0) + v * n
            seed_frames[seed] += n
            if log:
                log(f"  seed {seed} {name}: {n} frames")
    frames = sum(seed_frames.values())
    results = {m: {k: round(sum(per_seed[seed][m][k] for seed in seeds) / frames, 2) for k in per_seed[seeds[0]][m]}
               for m in methods}
    for m in methods:
        results[m]["fps"] = round(frames / max(seconds[m], 1e-9), 1) if m != "init" else None
    by_seed = {seed: {m: {k: round(v / seed_frames[seed], 2) for k, v in per_seed[seed][m].items()} for m in methods}
               for seed in seeds}
    return results, frames, by_seed


def print_table(results, methods):
    cols = ("mpjpe", "pa_mpjpe", "accel", "foot_slide", "reproj_px", "root_jitter", "fps")
    print(f"{'method':<20}" + "".join(f"{c:>12}" for c in cols))
    for m in methods:
        print(f"{m:<20}" + "".join(f"{results[m][c]:>12}" if results[m][c] is not None else f"{'-':>12}" for c in cols))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=default_checkpoint_path())
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "accuracy.json"))
    args = parser.parse_args()
    torch.set_num_threads(solver_cpu_threads())  # as the backend runs it (backend/device.py)
    trained = load_prior(args.checkpoint)
    config = ScoreHMRConfig()
    clips = load_heldout(trained.meta)
    # MediaPipe-like world landmarks too, from the noise model measured on rendered training views
    world_noise = WorldNoise.load() if os.path.isfile(WORLD_NOISE_PATH) else None
    results, frames, by_seed = run_methods(clips, trained, BodyModel.load(), NoiseModel.load(), config, args.methods,
                                  seeds=args.seeds, fps=args.fps, log=lambda m: print(m, flush=True),
                                  world_noise=world_noise)
    report = {"heldout_clips": sorted(clips), "frames": frames, "seeds": args.seeds,
              "world_landmarks": None if world_noise is None else world_noise.params.get("source"),
              "settings": dict(vars(config)), "smplify_settings": dict(vars(SMPLifyConfig())),
              "methods": results, "per_seed": by_seed}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"\n{frames} held-out frames ({len(clips)} clips x {len(args.seeds)} cameras); MPJPE/PA-MPJPE mm, accel mm/frame^2, foot slide mm/frame, "
          "reprojection px, root jitter mm/frame^2, refinement frames/s")
    print_table(results, args.methods)
    print("\nper camera seed, PA-MPJPE / accel:")
    print(f"{'seed':<6}" + "".join(f"{m:>20}" for m in args.methods))
    for seed, res in by_seed.items():
        print(f"{seed:<6}" + "".join(f"{res[m]['pa_mpjpe']:>12.1f} / {res[m]['accel']:<5.1f}" for m in args.methods))
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
