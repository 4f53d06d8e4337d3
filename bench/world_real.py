"""World grounding on real, calibrated footage: the floor each view of the Pose2Sim demo gets,
against the lab's.

    .venv/bin/python -m bench.world_real [--checkpoint CKPT]

The demo (4 calibrated portrait views, 100 frames at 60 fps, a person walking along a treadmill
deck; fetched by tools/calibrate_noise.py) goes through the real pipeline one video at a time
(``pipeline.run_video``: detection, first pass, floor, a second pass standing on it), twice:
  known_camera  with the calibrated focal length (a user's --focal; the lens distortion, 4.6 %
                radial, and the principal point, 11-12 px off centre, stay unknown to it);
  as_shipped    with the focal length the pipeline assumes for a video of unknown camera.
Truth: the lab's Z axis is up, and its floor (the deck the person walks on) is z = 0: the lowest
triangulated toe landmarks are 3.7-4.4 cm above it, the body model's toe landmark 3.5 cm above
its sole. Per view: whether a floor was trusted (else the backend's reason), its gravity error
(deg) and camera height error (mm).

One camera, several people (``one_shot``): the Sports2D demo (7.7 s at 30 fps from a static
camera in a park; a man on a box about as high as a person, who jumps off it, and a woman who
walks across the grass; fetched from the ``sports2d`` wheel on PyPI, BSD-3-Clause; the bundled
clip is cut from it) goes through the pipeline with every person (``--person all``: one world
for the shot, its gravity from everyone's floors) and with each person alone (``--person N``:
their own floor). There is no truth for this camera, but gravity is one: the people's own floors
should share their up (their heights differ by the box's). Per person: the camera height, pitch
and roll each way, or the reason for no floor, and in the shot the height of the level they stand
on; the angle between each two people's own floors, and each one's from the shot's gravity.
Nothing here was used to choose any world setting. Writes bench/results/world_real.json.
"""
import argparse
import json
import os
import tempfile

import numpy as np
import torch

from backend import pipeline, world
from backend.body_model import BodyModel
from backend.checkpoints import default_checkpoint_path
from backend.geometry import axis_angle_to_rot6d
from backend.models import ModelCache
from backend.output import index_path
from smplcore.result import MotionResult
from tools import calibrate_noise, pypi_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("known_camera", "as_shipped")
SPORTS2D_VERSION = "0.8.34"
SHOT = "Sports2D/Demo/demo.mp4"
CACHE = os.path.join(ROOT, ".cache", "sports2d")


def floor_error(result, camera):
    """The result's floor against the lab's: a row for the table."""
    if result.cam_to_world is None:
        return {"floor": False, "note": result.world_note}
    floor = world.floor_from_cam_to_world(result.cam_to_world)
    up = camera.R @ np.array([0.0, 0.0, 1.0])                 # the lab's up in the camera frame
    height = float((-camera.R.T @ camera.t)[2])               # the camera's height above z = 0
    pitch, roll = world.camera_tilt(result.cam_to_world)[:2]
    true_pitch, true_roll = world.camera_tilt(world.cam_to_world(world.Floor(up=up, height=height, inliers=0,
                                                                             planted=0)))[:2]
    return {"floor": True, "gravity_deg": world.degrees_between(floor.up, up),
            "camera_height_mm": abs(floor.height - height) * 1000, "camera_height_m": [floor.height, height],
            "pitch_roll_deg": [float(pitch), float(roll)], "true_pitch_roll_deg": [float(true_pitch), float(true_roll)]}


def _floor_row(result):
    """Where a result's floor puts the camera, or why it has none."""
    if result.cam_to_world is None:
        return {"floor": False, "note": result.world_note}
    pitch, roll, height = world.camera_tilt(result.cam_to_world)
    return {"floor": True, "camera_height_m": round(height, 3), "pitch_deg": round(pitch, 2), "roll_deg": round(roll, 2)}


def _level_in_the_shot(result, body):
    """Height (m) above the shot's floor of the level this person stands on (the floor, a box
    top), from their motion with the shot's gravity; None where they stand on none."""
    shot = world.floor_from_cam_to_world(result.cam_to_world)
    x = axis_angle_to_rot6d(torch.as_tensor(result.poses, dtype=torch.float32).reshape(-1, 24, 3)).reshape(-1, 144)
    try:
        level = world.floor_of_motion(body, x, torch.as_tensor(result.trans), torch.as_tensor(result.betas),
                                      float(result.mocap_framerate), result.valid, gravity=shot.up)
    except world.FloorError:
        return None
    return round(shot.height - level.height, 3)


def people_in_one_shot(checkpoint, models):
    """The Sports2D demo with every person (one world for the shot) and each person alone (their
    own floor): per person both rows, the angles between the people's own floors, and each one's
    from the shot's gravity."""
    folder = pypi_files.extracted("sports2d", SPORTS2D_VERSION,
                                  [SHOT, f"sports2d-{SPORTS2D_VERSION}.dist-info/licenses/LICENSE"], CACHE)
    video = os.path.join(folder, SHOT)
    people, own, gravity, body = {}, {}, None, BodyModel.load()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "all.npz")
        pipeline.run_video(video, out, device="cpu", person="all", checkpoint=checkpoint, model_cache=models)
        with open(index_path(out)) as file:
            index = json.load(file)
        for entry in index["persons"]:
            shot = MotionResult.load(os.path.join(tmp, entry["file"]))
            alone = pipeline.run_video(video, os.path.join(tmp, f"alone{entry['person']}.npz"), device="cpu",
                                       person=entry["person"], checkpoint=checkpoint, model_cache=models)
            name = f"person {entry['person']}" + (" (main)" if entry["main"] else "")
            people[name] = {"frames_seen": entry["frames"], "alone": _floor_row(alone), "in_the_shot": _floor_row(shot)}
            if shot.cam_to_world is not None:
                people[name]["in_the_shot"]["level_m"] = _level_in_the_shot(shot, body)
                gravity = world.floor_from_cam_to_world(shot.cam_to_world).up
            if alone.cam_to_world is not None:
                own[name] = world.floor_from_cam_to_world(alone.cam_to_world).up
    names = sorted(own)
    apart = {f"{a} / {b}": round(world.degrees_between(own[a], own[b]), 2) for i, a in enumerate(names) for b in names[i + 1:]}
    from_shot = {} if gravity is None else {name: round(world.degrees_between(own[name], gravity), 2) for name in names}
    return {"video": f"{SHOT} (sports2d {SPORTS2D_VERSION} wheel)", "people": people,
            "own_floors_apart_deg": apart, "own_floor_from_the_shots_deg": from_shot}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=default_checkpoint_path(), help="prior checkpoint (default: the shipped one)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "world_real.json"))
    args = parser.parse_args()
    videos, calibration = calibrate_noise.fetch_demo()
    cameras = {camera.name: camera for camera in calibrate_noise.read_qca(calibration)}
    models = ModelCache()
    rows = {mode: {} for mode in MODES}
    for path in sorted(videos):
        camera = cameras[os.path.basename(path).split(".")[0]]
        for mode, focal in (("known_camera", float(np.diag(camera.K)[:2].mean())), ("as_shipped", None)):
            with tempfile.TemporaryDirectory() as folder:
                result = pipeline.run_video(path, os.path.join(folder, "result.npz"), device="cpu", focal=focal,
                                            checkpoint=args.checkpoint, model_cache=models)
            rows[mode][camera.name] = floor_error(result, camera)
    summary = {}
    for mode, views in rows.items():
        found = [r for r in views.values() if r["floor"]]
        summary[mode] = {"views": len(views), "floors": len(found),
                         "gravity_deg": round(float(np.mean([r["gravity_deg"] for r in found])), 2) if found else None,
                         "camera_height_mm": round(float(np.mean([r["camera_height_mm"] for r in found]))) if found else None}
    shot = people_in_one_shot(args.checkpoint, models)
    report = {"source": "Pose2Sim Demo_SinglePerson, 4 calibrated views", "checkpoint": os.path.relpath(args.checkpoint, ROOT),
              "summary": summary, "views": rows, "one_shot": shot}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2)
    print(f"{'mode':<14}{'view':<7}{'floor':<7}{'gravity deg':>12}{'camera height mm':>18}  note")
    for mode, views in rows.items():
        for name, r in views.items():
            if r["floor"]:
                print(f"{mode:<14}{name:<7}{'yes':<7}{r['gravity_deg']:>12.1f}{r['camera_height_mm']:>18.0f}")
            else:
                print(f"{mode:<14}{name:<7}{'no':<7}{'':>12}{'':>18}  {r['note']}")
    print(f"\none camera, several people: {shot['video']}")
    describe = lambda r: (f"camera {r['camera_height_m']:.2f} m above the floor, pitch {r['pitch_deg']:.1f} deg, "  # noqa: E731
                          f"roll {r['roll_deg']:.1f} deg") if r["floor"] else r["note"]
    for name, r in shot["people"].items():
        level = r["in_the_shot"].get("level_m")
        print(f"{name:<18}{r['frames_seen']:>5} frames  alone: {describe(r['alone'])}\n{'':<29}in the shot: "
              f"{describe(r['in_the_shot'])}" + ("" if level is None else f"; stands {abs(level) if abs(level) < 0.005 else level:.2f} m above it"))
    for pair, angle in shot["own_floors_apart_deg"].items():
        print(f"own floors of {pair}: {angle:.1f} deg apart (one camera: should be 0)")
    for name, angle in shot["own_floor_from_the_shots_deg"].items():
        print(f"{name}: own floor {angle:.1f} deg from the shot's gravity")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
