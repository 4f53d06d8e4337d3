"""Speed of the video pipeline, stage by stage, against MediaPipe's own speed, in one run.

    python bench/pipeline.py [VIDEO] [--start F] [--end F] [--device cpu] [--person main|all]

Three passes over the same frames, in this order:
  decode          OpenCV decoding alone (streaming, nothing kept)
  mediapipe_only  one MediaPipe Pose graph, frames fed in order: time inside MediaPipe only.
                  This is the floor the issue measures against.
  end_to_end      backend.pipeline.run_video, the real job (probe, detect + track, init, refine,
                  save); its stages are timed from the progress events it emits.
  end_to_end_hands  (with --hands) the same job with hands=True (hand landmarks, finger solve);
                  the issue's bound: hands add at most 50 % to end_to_end. Besides the
                  fastest of each kind, each hands pass is compared with the body-only pass just
                  before it (the paired ratios and their median, with the 1-minute load average
                  at each pass; not the first pair, whose body pass is the cold start): on a shared
                  machine the two fastest passes may meet different loads.
While the solver cannot run (not installed, no trained prior) the end-to-end pass stops after
detection, init/refine are absent and the JSON says why.
Each kind of pass runs --repeat times, interleaved, and the fastest counts: the throughput of a
backend process that has its models loaded (the add-on's, after its first job). The first
end-to-end pass is also reported on its own as the cold start: a fresh `python -m backend run`
also imports torch and loads the models (in the background, while detection runs).
Writes bench/results/pipeline.json and prints a table. Peak memory is the process's peak RSS
after the first pass of each kind (it only grows: later figures include earlier passes).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time

from backend import detect, pipeline, video
from backend.errors import BackendError
from backend.job import JobContext

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_VIDEO = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
RESULTS = os.path.join(ROOT, "bench", "results", "pipeline.json")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measured(frames, seconds, **extra):
    return dict(frames=int(frames), seconds=round(seconds, 3), fps=round(frames / seconds, 2) if seconds else None,
                **extra)


def decode_pass(info, first, stop):
    started, count = time.perf_counter(), 0
    for _ in video.iter_frames(info.path, first, stop):
        count += 1
    return measured(count, time.perf_counter() - started)


def mediapipe_pass(info, first, stop):
    inside, count, found = 0.0, 0, 0
    with detect.PoseDetector() as detector:
        for _, frame in video.iter_frames(info.path, first, stop):
            started = time.perf_counter()
            found += detector(frame) is not None
            inside += time.perf_counter() - started
            count += 1
    return measured(count, inside, detected=found)


def end_to_end_pass(info, first, stop, device, checkpoint, person="main", hands=False):
    """Run the real job; each stage spans its first to its last progress event, and "other" is
    the rest (imports, model loading, tracking, writing the file).

    Returns (end-to-end timing, stage timings, None) or, when the solver cannot run yet,
    timings of what ran (probe + detect + track) and the reason.
    """
    spans = {}  # stage -> [first event time, last event time], in stage order

    def progress(stage, done, total):
        now = time.perf_counter()
        spans.setdefault(stage, [now, now])[1] = now

    frames = stop - first
    started, failure = time.perf_counter(), None
    with tempfile.TemporaryDirectory() as folder:
        try:
            pipeline.run_video(info.path, os.path.join(folder, "bench.npz"), start=first, end=stop - 1,
                               device=device, checkpoint=checkpoint, job=JobContext(progress), person=person,
                               hands=hands)
        except (BackendError, ImportError) as exc:  # no solver or no trained prior yet
            failure = f"{type(exc).__name__}: {exc}"
    ended = max(span[1] for span in spans.values()) if failure and spans else time.perf_counter()
    stages = {stage: measured(frames, last - begun) for stage, (begun, last) in spans.items()}
    stages["other"] = measured(frames, ended - started - sum(s["seconds"] for s in stages.values()))
    return measured(frames, ended - started), stages, failure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=DEFAULT_VIDEO)
    parser.add_argument("--start", type=int, default=None)
    parser.add_argument("--end", type=int, default=None, help="last frame, inclusive")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint", default=None, help="ScoreHMR prior (default: the shipped one)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="passes of each kind, interleaved; the fastest counts (other load on the machine "
                             "only ever slows a pass down)")
    parser.add_argument("--person", default="main",
                        help="main, or all: the extra detection passes that find further people are timed too "
                             "(their stage is detect_others); default output bench/results/pipeline_person_all.json")
    parser.add_argument("--out", default=None, help=f"default {os.path.relpath(RESULTS, ROOT)}")
    parser.add_argument("--hands", action="store_true",
                        help="also time the job with hands on; default output bench/results/pipeline_hands.json")
    args = parser.parse_args(argv)
    args.out = args.out or (RESULTS if args.person == "main" else RESULTS.replace(".json", f"_person_{args.person}.json"))
    if args.hands and args.out == RESULTS:
        args.out = RESULTS.replace(".json", "_hands.json")

    info = video.probe(args.video)
    first, stop = video.frame_range(info, args.start, args.end)
    stop = stop if stop is not None else info.frame_count
    memory, decode, mediapipe_only, end_to_end, cold, with_hands = {}, None, None, None, None, None
    pairs = []  # (seconds without hands, seconds with hands, load average) of each repeat
    fastest = lambda new, old: new if old is None or new["seconds"] < old["seconds"] else old  # noqa: E731
    for repeat in range(max(1, args.repeat)):
        decode = fastest(decode_pass(info, first, stop), decode)
        memory.setdefault("after_decode", round(peak_rss_mb(), 1))
        mediapipe_only = fastest(mediapipe_pass(info, first, stop), mediapipe_only)
        memory.setdefault("after_mediapipe_only", round(peak_rss_mb(), 1))
        run = end_to_end_pass(info, first, stop, args.device, args.checkpoint, args.person)
        cold = cold or run[0]
        if end_to_end is None or run[0]["seconds"] < end_to_end["seconds"]:
            end_to_end, stages, failure = run
        memory.setdefault("after_end_to_end", round(peak_rss_mb(), 1))
        if args.hands:
            body_seconds = run[0]["seconds"]
            run = end_to_end_pass(info, first, stop, args.device, args.checkpoint, hands=True)
            if repeat > 0 or args.repeat == 1:  # the first body pass is the cold start
                pairs.append((body_seconds, run[0]["seconds"], round(os.getloadavg()[0], 1)))
            if with_hands is None or run[0]["seconds"] < with_hands[0]["seconds"]:
                with_hands = run
    memory["after_all_passes"] = round(peak_rss_mb(), 1)

    report = {
        "video": os.path.relpath(os.path.abspath(args.video), ROOT), "frames": stop - first,
        "size": list(info.image_size), "video_fps": info.fps,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "device": args.device},
        "detect_workers": detect.default_workers(), "repeat": args.repeat, "person": args.person,
        "stages": {"decode": decode, **stages},
        "mediapipe_only": mediapipe_only,
        "end_to_end": end_to_end,
        "end_to_end_over_mediapipe_only": round(end_to_end["fps"] / mediapipe_only["fps"], 3),
        "cold_start": {"end_to_end": cold, "over_mediapipe_only": round(cold["fps"] / mediapipe_only["fps"], 3)},
        "peak_rss_mb": memory,
    }
    if with_hands is not None:
        report["end_to_end_hands"] = dict(with_hands[0], stages=with_hands[1])
        report["hands_added_over_end_to_end"] = round(with_hands[0]["seconds"] / end_to_end["seconds"] - 1, 3)
        added = [round(hands / body - 1, 3) for body, hands, _ in pairs]
        report["hands_paired"] = {"seconds_without_with_load": pairs, "added": added,
                                  "added_median": round(statistics.median(added), 3)}
    if failure:
        report["note"] = f"the solver could not run ({failure}): end_to_end covers probe + detect + track only"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2)

    print(f"{report['video']}: {report['frames']} frames {info.width}x{info.height} @ {info.fps:g} fps, "
          f"{os.cpu_count()} CPUs, {report['detect_workers']} detection worker(s)")
    print(f"{'stage':<16}{'frames':>8}{'seconds':>10}{'frames/s':>10}")
    rows = list(report["stages"].items())
    rows += [("mediapipe_only", mediapipe_only), ("end_to_end", end_to_end)]
    for name, values in rows:
        print(f"{name:<16}{values['frames']:>8}{values['seconds']:>10.2f}{values['fps']:>10.1f}")
    print(f"end to end / MediaPipe only: {report['end_to_end_over_mediapipe_only']:.2f}  (goal >= 0.8)")
    print(f"cold start (first job of a fresh process: imports torch, loads the models): {cold['seconds']:.2f} s, "
          f"{cold['fps']:.1f} frames/s, {report['cold_start']['over_mediapipe_only']:.2f} x MediaPipe only")
    if with_hands is not None:
        print(f"end to end with hands: {with_hands[0]['seconds']:.2f} s: hands add "
              f"{100 * report['hands_added_over_end_to_end']:.0f} % (goal <= 50 %); paired passes: "
              f"{', '.join(f'{100 * a:.0f} %' for a in report['hands_paired']['added'])}, median "
              f"{100 * report['hands_paired']['added_median']:.0f} %; load averages "
              f"{[load for _, _, load in pairs]}")
    print(f"peak RSS (MB): {memory}")
    if failure:
        print(report["note"])
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
