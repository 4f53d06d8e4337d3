"""Refinement speed and peak memory of temporal ScoreHMR on CPU, for 300, 1000 and 3000 frames.

    .venv/bin/python bench/speed.py [--checkpoint FILE] [--frames 300 1000 3000] [--repeat 3]

Each length is prepared in one process (a held-out clip looped to length, observed through the
calibrated noise model, initial estimate) and refined in a fresh one, so that the peak resident
memory is the refinement's (models, input, refinement), with the settings of the accuracy table
(ScoreHMRConfig defaults). Writes bench/results/speed.json.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prepare(frames, checkpoint, path):
    """The input of one length, saved for a fresh process: a held-out clip looped to length, seen
    through the calibrated noise model, and its initial estimate."""
    import numpy as np
    import torch

    from backend.body_model import BodyModel
    from backend.checkpoints import load_prior
    from backend.solver import camera_tensors, initial_state
    from bench.accuracy import load_heldout
    from scorehmr_research.observation_noise import NoiseModel
    from scorehmr_research.synthetic import observe_sequence
    from scorehmr_research.world_noise import WorldNoise

    trained = load_prior(checkpoint)
    body = BodyModel.load()
    name, (poses, trans) = max(load_heldout(trained.meta).items(), key=lambda kv: len(kv[1][0]))
    reps = -(-frames // len(poses))
    poses = np.concatenate([poses] * reps)[:frames]
    trans = np.concatenate([trans if trans is not None else np.zeros((len(poses), 3))] * reps)[:frames]
    # with MediaPipe-like world landmarks: the guidance's world term costs time too
    seq = observe_sequence(poses, trans, body, NoiseModel.load(), torch.Generator().manual_seed(0),
                           world_noise=WorldNoise.load())
    focal, principal = camera_tensors(frames, seq["focal"], seq["image_size"], "cpu")
    with torch.no_grad():
        state = initial_state(trained, body, body, seq["keypoints"], focal, principal, world=seq["world"])
    torch.save({"clip": name, "x": state.x, "trans": state.trans, "betas": state.betas, "obs": vars(state.obs)}, path)


def refine(path, checkpoint, repeat):
    """Time the refinement of a prepared input in this fresh process; its peak memory is the
    backend's for a solve of that length (models, input, refinement)."""
    import torch

    from backend.body_model import BodyModel
    from backend.checkpoints import load_prior
    from backend.device import solver_cpu_threads
    from backend.scorehmr import Observation, ScoreHMR, ScoreHMRConfig

    torch.set_num_threads(solver_cpu_threads())  # as the backend runs it (backend/device.py)
    trained = load_prior(checkpoint)
    body = BodyModel.load()
    state = torch.load(path, weights_only=True)
    obs = Observation(**state["obs"])
    frames = state["x"].shape[0]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = ScoreHMRConfig()
    engine = ScoreHMR(trained.diffusion, body, config)
    seconds = cpu_seconds = float("inf")
    for _ in range(repeat):  # the fastest run counts: other load on the machine only slows one down
        started, cpu_started = time.perf_counter(), time.process_time()
        engine.refine_sequence(state["x"], state["trans"], state["betas"][None], obs)
        seconds = min(seconds, time.perf_counter() - started)
        # CPU time of this (single-threaded) refinement: what it takes on an idle core, even
        # while other work shares the machine and stretches the wall-clock time
        cpu_seconds = min(cpu_seconds, time.process_time() - cpu_started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"fps": round(frames / seconds, 1), "seconds": round(seconds, 2),
                      "cpu_fps": round(frames / cpu_seconds, 1), "load_average": os.getloadavg()[0],
                      "peak_mb": round(peak / 1024, 1), "peak_before_refine_mb": round(rss_before / 1024, 1),
                      # ru_maxrss only grows: what refinement added above models and input
                      "refine_added_mb": round((peak - rss_before) / 1024, 1),
                      "clip": state["clip"], "settings": asdict(config)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--frames", type=int, nargs="*", default=[300, 1000, 3000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per length; the fastest counts")
    parser.add_argument("--prepare", nargs=2, default=None, help=argparse.SUPPRESS)   # FRAMES PATH
    parser.add_argument("--refine", default=None, help=argparse.SUPPRESS)              # PATH
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "speed.json"))
    args = parser.parse_args()
    if args.checkpoint is None:
        from backend.checkpoints import default_checkpoint_path
        args.checkpoint = default_checkpoint_path()
    if args.prepare is not None:
        return prepare(int(args.prepare[0]), args.checkpoint, args.prepare[1])
    if args.refine is not None:
        return refine(args.refine, args.checkpoint, args.repeat)
    rows, settings = {}, None
    for n in args.frames:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "input.pt")
            subprocess.run([sys.executable, __file__, "--prepare", str(n), path, "--checkpoint", args.checkpoint],
                           capture_output=True, text=True, check=True)
            out = subprocess.run([sys.executable, __file__, "--refine", path, "--checkpoint", args.checkpoint,
                                  "--repeat", str(args.repeat)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        settings = row.pop("settings")
        rows[str(n)] = row
        print(f"{n:>6} frames: {row['fps']:>7.1f} frames/s ({row['cpu_fps']:.0f} per CPU second, load "
              f"{row['load_average']:.1f}), peak {row['peak_mb']:.0f} MB "
              f"(refinement added {row['refine_added_mb']:.0f} MB)", flush=True)
    report = {"frames": rows, "settings": settings, "cpu_threads": os.cpu_count(), "repeat": args.repeat,
              "memory_ratio_3000_vs_1000": round(rows["3000"]["peak_mb"] / rows["1000"]["peak_mb"], 2)
              if "3000" in rows and "1000" in rows else None}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
