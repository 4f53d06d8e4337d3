"""How much MediaPipe's world landmarks should count in the guidance, chosen on real footage whose
motion the prior has never seen: the Pose2Sim 4-view demo (the data of bench/multiview.py).

    .venv/bin/python -m bench.world_evidence [--weights 0 3 5 10 15 30 100] [--sigmas 0.1 0.2] [--stride 1]

The rendered training views cannot choose this weight: their motion is in the prior's training
data, so there our own estimate is far better than MediaPipe's 3D and any weight looks harmful.
Here each view is solved alone, as the product does (left/right swaps undone, temporal ScoreHMR
with the world-landmark term at each setting), and scored by what the other views saw:
  ref_pa_mm         the 33 landmarks against the 4-view triangulation, Procrustes-aligned, mm
  ref_mm            the same, aligned at the hips only, mm
  heldout_clean_px  each view's estimate projected into every other view, against the detections
                    there that agree with the triangulation, px
  own_px            reprojection into the view it was solved from, px
(bench/multiview.py describes the reference and its limits: it is made of the same detector's
2D, so it ranks settings; it is no exact truth.) Writes bench/results/world_evidence.json.
"""
import argparse
import itertools
import json
import os
import time

import numpy as np
import torch

from backend.body_model import BodyModel
from backend.checkpoints import default_checkpoint_path, load_prior
from backend.scorehmr import ScoreHMR, ScoreHMRConfig
from backend.sides import consistent_sides
from backend.solver import initial_state
from bench.multiview import evaluate, prepare, tensors
from tools import calibrate_noise as cn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = ("ref_pa_mm", "ref_mm", "heldout_clean_px", "own_px")


def solve_views(trained, body, data, config):
    """Each view solved alone with ``config``: {view: (x, trans, betas)}."""
    estimates = {}
    for v in range(len(data["cameras"])):
        kp, focal, principal = tensors(data, [v])
        found = kp[..., 2].amax(1) > 0
        fixed_kp, world, _ = consistent_sides(kp.numpy(), data["world"][v].astype(np.float32), data["fps"], found.numpy())
        kp = torch.as_tensor(fixed_kp)
        state = initial_state(trained, body, body, kp, focal, principal, world=world, config=config)
        engine = ScoreHMR(trained.diffusion, body, config)
        x, trans = engine.refine_sequence(state.x, state.trans, state.betas[None], state.obs, fps=data["fps"])
        estimates[v] = (x.detach(), trans.detach(), state.betas)
    return estimates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=default_checkpoint_path())
    parser.add_argument("--cache", default=cn.CACHE)
    parser.add_argument("--stride", type=int, default=1, help="use every n-th frame (60 fps source)")
    parser.add_argument("--weights", type=float, nargs="+", default=[0, 3, 5, 10, 15, 30, 100])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.1, 0.2], help="world_sigma, metres")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "world_evidence.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    data = prepare(args.cache, args.stride)
    trained = load_prior(args.checkpoint)
    body = BodyModel.load()
    views = range(len(data["cameras"]))
    with torch.no_grad():
        common = initial_state(trained, body, body, *tensors(data, list(views))).betas
    rows = {}
    print(f"{'setting':<26}" + "".join(f"{c:>18}" for c in COLUMNS))
    for weight, sigma in itertools.product(args.weights, args.sigmas):
        if weight == 0 and sigma != args.sigmas[0]:
            continue                                   # the term is off: sigma changes nothing
        config = ScoreHMRConfig(world=weight, world_sigma=sigma)
        started = time.perf_counter()
        estimates = solve_views(trained, body, data, config)
        with torch.no_grad():
            scores = evaluate(body, data, estimates, common, {k: {u: e for u, e in estimates.items() if u != k}
                                                              for k in views})
        key = "off" if weight == 0 else f"world={weight:g} sigma={sigma:g}"
        rows[key] = {c: round(scores[c], 2) for c in COLUMNS}
        print(f"{key:<26}" + "".join(f"{rows[key][c]:>18.2f}" for c in COLUMNS)
              + f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    report = {"made_by": "python -m bench.world_evidence", "source": {"videos": data["videos"], "stride": args.stride,
              "frames": int(data["pinhole"].shape[1]), "fps": data["fps"]},
              "checkpoint": os.path.relpath(args.checkpoint, ROOT), "columns": list(COLUMNS), "settings": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
