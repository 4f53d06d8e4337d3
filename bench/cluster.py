"""Clips per hour: ``run-folder`` on this machine against a local Ray cluster, on the same folder.

    python bench/cluster.py [--clips 6] [--frames 30] [--workers 2] [--device cpu] [--repeat 2]

Cuts ``--clips`` clips of ``--frames`` frames from the bundled excerpt, then
  local    ``python -m backend run-folder`` in a fresh process (interpreter start, imports and
           model loading included), the clips one after another;
  cluster  the same folder through ``backend.cluster.solve_on_cluster`` (what ``--cluster``
           runs) on a Ray head of ``--workers`` CPUs that this benchmark starts on loopback (its own
           start is not counted; connecting, starting the workers and their model loading are).
Overhead per clip: the time from handing a clip to a worker that already solved one until its
answer is back, minus the time the worker spent solving it (scheduling, transfer, result). The
first clip of each worker also waits for the worker's start; that is reported as the worker start.
Each mode runs --repeat times on fresh output folders and the fastest run counts (this VM's
timings swing by up to 20 % between runs). Writes bench/results/cluster.json and prints a table.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from backend.cli import build_parser
from backend.cluster import clips_to_solve, solve_on_cluster
from backend.job_commands import folder_clips
from tools.clips import cut_clip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
RESULTS = os.path.join(ROOT, "bench", "results", "cluster.json")
PERSON_FRAMES = 100  # the excerpt's walking woman is in view on frames 0..100


def start_head(workers, temp):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = os.path.join(temp, "head.log")
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    with open(log, "w") as output:
        head = subprocess.Popen(
            [ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={workers}",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in open(log).read():
        if head.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Ray head did not start:\n{open(log).read()}")
        time.sleep(0.5)
    return head, f"ray://127.0.0.1:{port}"


def stop_head(head):
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def run_local(folder, out, device):
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "backend", "run-folder", folder, "--out", out, "--device", device],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"local run-folder failed:\n{done.stderr}")
    return seconds


def run_cluster(folder, out, device, address):
    args = build_parser().parse_args(["run-folder", folder, "--out", out, "--device", device, "--cluster", address])
    clips, _ = clips_to_solve(folder_clips(folder, out))
    started = time.perf_counter()
    run = solve_on_cluster(clips, args, say=lambda line: None)
    seconds = time.perf_counter() - started
    failed = [outcome for outcome in run.outcomes.values() if outcome["status"] != "done"]
    if failed or len(run.outcomes) != len(clips):
        raise RuntimeError(f"cluster run-folder failed: {failed}")
    return seconds, run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local cluster (one worker each)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each mode; the fastest counts")
    args = parser.parse_args(argv)
    # every socket of the benchmark's cluster on loopback (read by Ray on import, here and in the head)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    temp = tempfile.mkdtemp(prefix="raybench", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    try:
        folder = os.path.join(temp, "clips")
        os.makedirs(folder)
        step = max(1, (PERSON_FRAMES - args.frames) // max(1, args.clips - 1))
        for number in range(args.clips):
            cut_clip(EXCERPT, os.path.join(folder, f"clip{number:02d}.mp4"), number * step % (PERSON_FRAMES - args.frames + 1),
                     args.frames)
        # the local runs first, while no Ray process takes CPU time
        local_seconds = min(run_local(folder, os.path.join(temp, f"local{number}"), args.device)
                            for number in range(args.repeat))
        head, address = start_head(args.workers, temp)
        try:
            cluster_seconds, run = min((run_cluster(folder, os.path.join(temp, f"cluster{number}"), args.device, address)
                                        for number in range(args.repeat)), key=lambda timed: timed[0])
        finally:
            stop_head(head)
    finally:
        shutil.rmtree(temp, ignore_errors=True)

    first_on_worker, later = [], []
    seen = set()
    for outcome in run.outcomes.values():  # in the order the answers came back
        wait = outcome["latency"] - outcome["seconds"]
        (later if outcome["pid"] in seen else first_on_worker).append(wait)
        seen.add(outcome["pid"])
    report = {
        "command": " ".join(["python bench/cluster.py", *(argv if argv is not None else sys.argv[1:])]),
        "clips": args.clips, "frames_per_clip": args.frames, "repeat": args.repeat,
        "local": {"seconds": round(local_seconds, 2), "clips_per_hour": round(args.clips / local_seconds * 3600)},
        "cluster": {
            "workers": run.workers, "seconds": round(cluster_seconds, 2),
            "clips_per_hour": round(args.clips / cluster_seconds * 3600),
            "connect_seconds": round(run.connect_seconds, 2),
            "worker_start_seconds": round(statistics.mean(first_on_worker), 2),
            "overhead_per_clip_seconds": round(statistics.mean(later), 3) if later else None,
            "solve_seconds_per_clip": round(statistics.mean(o["seconds"] for o in run.outcomes.values()), 2),
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "device": args.device,
                    "load_average_1min_after": round(os.getloadavg()[0], 1)},  # other jobs sharing the cores
    }
    print(f"{'mode':8} {'seconds':>8} {'clips/hour':>11}")
    print(f"{'local':8} {local_seconds:8.1f} {report['local']['clips_per_hour']:>11}")
    print(f"{'cluster':8} {cluster_seconds:8.1f} {report['cluster']['clips_per_hour']:>11}  ({run.workers} workers)")
    print(f"cluster: connect {run.connect_seconds:.1f} s, worker start {report['cluster']['worker_start_seconds']} s, "
          f"overhead {report['cluster']['overhead_per_clip_seconds']} s per clip, "
          f"solving {report['cluster']['solve_seconds_per_clip']} s per clip")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")
    return report


if __name__ == "__main__":
    main()
