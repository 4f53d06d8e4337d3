"""How many of a person's frames the tracker keeps, on clips built from the bundled video.

    python bench/tracking.py [--minutes 3]

Clips (written to a temporary folder, 640x360, 30 fps):
  gap    50 frames of the woman, 60 blank frames, 50 more frames of her (the issue's example)
  loop   her walk (frames 0..99) forward, 2.5 s blank (she has left), backward, repeated for
         --minutes; the top 48 % of every frame is painted grey so only she is in view (the man
         on the roof of the shed is hidden)
For each: frames where MediaPipe found someone ("person frames"), how many of them the main
track keeps, and the number of tracklets and persons. Also the torso-colour and proportion
distances that set the re-identification thresholds in backend/track.py, measured on the
bundled clip (the woman's two halves; the woman against the man). Writes
bench/results/tracking.json.
"""
import argparse
import json
import os
import tempfile
import time

import cv2
import numpy as np

from backend import pipeline, track

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
RESULTS = os.path.join(ROOT, "bench", "results", "tracking.json")
SIZE = (640, 360)


def _frames():
    capture = cv2.VideoCapture(EXCERPT)
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
    return frames


def _write(path, frames):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, SIZE)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _loop(frames, minutes):
    masked = [frame.copy() for frame in frames[:100]]
    for frame in masked:
        frame[: int(0.48 * SIZE[1])] = 127
    blank = np.zeros_like(masked[0])
    cycle = masked + [blank] * 75 + masked[::-1]
    total = int(minutes * 60 * 30)
    return [cycle[k % len(cycle)] for k in range(total)]


def _measure(path):
    started = time.perf_counter()
    _, detections, people = pipeline.detect_people(path)
    seconds = time.perf_counter() - started
    found = detections.found
    main = people[0]
    return {"frames": int(detections.num_frames), "person_frames": int(found.sum()),
            "kept_in_main_track": int((main.valid & found).sum()),
            "kept_fraction": round(float((main.valid & found).sum() / max(found.sum(), 1)), 4),
            "main_track_tracklets": len(main.tracklets), "persons": len(people),
            "detect_and_track_seconds": round(seconds, 1)}


def _thresholds():
    """The distances the re-identification thresholds were set from."""
    _, detections, people = pipeline.detect_people(EXCERPT)
    woman, man = people[0], people[1]
    colours, world = detections.appearance, detections.world
    halves = np.array_split(np.flatnonzero(woman.valid), 2)
    ratio = lambda rows: np.median(track.proportions(world[rows]), axis=0)  # noqa: E731
    mean = lambda rows: colours[rows].mean(axis=0)  # noqa: E731
    man_rows = np.flatnonzero(man.valid)
    woman_rows = np.flatnonzero(woman.valid)
    return {
        "woman_halves_colour": round(track.colour_distance(mean(halves[0]), mean(halves[1])), 3),
        "woman_vs_man_colour": round(track.colour_distance(mean(woman_rows), mean(man_rows)), 3),
        "woman_halves_proportions": round(float(np.abs(ratio(halves[0]) - ratio(halves[1])).mean()), 4),
        "woman_vs_man_proportions": round(float(np.abs(ratio(woman_rows) - ratio(man_rows)).mean()), 4),
        "thresholds": {"same_colours_far": track.SAME_COLOURS_FAR, "same_proportions": track.SAME_PROPORTIONS},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    frames = _frames()
    report = {"size": list(SIZE), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as folder:
        gap = frames[:50] + [np.zeros_like(frames[0])] * 60 + frames[50:100]
        report["gap"] = _measure(_write(os.path.join(folder, "gap.mp4"), gap))
        print("gap", report["gap"])
        report["loop"] = dict(minutes=args.minutes, **_measure(_write(os.path.join(folder, "loop.mp4"),
                                                                      _loop(frames, args.minutes))))
        print("loop", report["loop"])
    report["reidentification"] = _thresholds()
    print("re-identification", report["reidentification"])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
