"""``run-folder --cluster``: the clips of a folder solved on a Ray cluster, one task per clip.

A pool of worker actors (one per slot the cluster's resources allow: ``--cpus-per-clip`` CPUs,
plus one GPU with ``--device cuda``) each load the models once and then solve clips one after
another with the local mode's own code (:func:`backend.job_commands.solve_clip`), so every result
file is written atomically by the worker straight into the output folder, exactly as locally.
The output folder must be shared storage that every node sees at the same path; inputs go by
path too. Clips whose result is already there are skipped; a clip that fails is reported with its
error code and the others go on; a clip whose worker is lost (killed, crashed, node gone) is
retried once on a fresh worker, then reported.

Ray is an optional extra (``requirements-cluster.txt``): only this module imports it, and only
when ``--cluster`` is given.
"""
import collections
import dataclasses
import logging
import os
import socket
import sys
import time

from backend.errors import BackendError
from backend.job_commands import (clip_done, clip_label, describe_failure, failure_lines, print_failure, print_summary,
                                  solve_clip, solve_options, wrote_message)
from smplcore.protocol import ERROR_EXIT_CODES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = os.path.join(ROOT, "requirements-cluster.txt")
ATTEMPTS_PER_CLIP = 2  # a clip whose worker is lost is retried once, then reported


def ray_address(cluster: str) -> str:
    """``--cluster`` value -> the address ``ray.init`` takes: ``ray`` and ``ray://auto`` -> "auto"
    (``RAY_ADDRESS``, else the cluster this machine joined with ``ray start``); ``ray://HOST:PORT``
    -> "HOST:PORT" (the head's address as ``ray start --head`` prints it)."""
    value = cluster.strip()
    if value in ("ray", "ray://auto"):
        return "auto"
    host, _, port = value.removeprefix("ray://").rpartition(":")
    if not value.startswith("ray://") or not host or not port.isdigit():
        raise BackendError("bad_request", f"--cluster {cluster!r} is not a Ray cluster address",
                           "use --cluster ray (the cluster this machine is part of) or ray://HOST:PORT "
                           "(the head node's address printed by `ray start --head`)")
    return f"{host}:{port}"


def _check_reachable(address):
    """Ray waits forever for a head that is not there: fail at once with a clear message instead."""
    if address == "auto":  # Ray itself says at once when it finds no cluster
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise BackendError("bad_request", f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}",
                           "start one with `ray start --head` (see the README), or check --cluster") from exc


def _import_ray():
    try:
        import ray
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise BackendError("missing_packages", f"--cluster needs Ray, which is not installed in {sys.executable}",
                           f"install it with: {sys.executable} -m pip install -r {REQUIREMENTS} "
                           "(or leave --cluster out to solve the clips on this machine)") from exc
    return ray


class ClipWorker:
    """One worker of the pool (a Ray actor): loads the models once, then solves clips."""

    def __init__(self, options: dict, verbose: bool):
        from backend.models import ModelCache
        from backend.pipeline import preload_models

        logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.options = options
        self.models = ModelCache()   # this worker's, for its lifetime
        self.load_error = None
        try:
            # every clip would meet the same error: keep it and report it with each clip
            preload_models(self.models, options["device"], options["body_model"], options["checkpoint"])
        except Exception as exc:  # noqa: BLE001 - reported per clip by run_clip
            self.load_error = exc

    def run_clip(self, video_path, out) -> dict:
        """Solve one clip into ``out``; never raises: a failure comes back as data."""
        started = time.perf_counter()
        where = {"host": socket.gethostname(), "pid": os.getpid()}
        if clip_done(out):  # written by an attempt whose worker was lost before it could answer
            return {"status": "done", "message": f"{out} was written by the lost worker", "seconds": 0.0, **where}
        try:
            if self.load_error is not None:
                raise self.load_error
            result = solve_clip(video_path, out, self.options, model_cache=self.models)
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its code
            return {"status": "failed", "failure": describe_failure(exc), "seconds": time.perf_counter() - started,
                    **where}
        return {"status": "done", "message": wrote_message(out, result), "seconds": time.perf_counter() - started,
                **where}


@dataclasses.dataclass
class Clip:
    label: str
    video: str
    out: str
    position: int
    attempts: int = 0
    submitted: float = 0.0


@dataclasses.dataclass
class ClusterRun:
    """What a cluster run did, for the summary and bench/cluster.py."""
    workers: int = 0
    connect_seconds: float = 0.0
    # clip position -> the worker's answer and its "latency" (from hand-over), in the order they came
    outcomes: dict = dataclasses.field(default_factory=dict)
    lost_workers: int = 0


class _ClipProgress:
    """A bar over clips on a terminal; messages above it (plain lines otherwise)."""

    def __init__(self, total):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="clips", unit="clip", file=sys.stderr, dynamic_ncols=True)

    def say(self, line):
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def advance(self):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _worker_lost_failure(ray, exc) -> dict:
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, ray.exceptions.OutOfMemoryError):
        return {"code": "out_of_memory", "exit_code": ERROR_EXIT_CODES["out_of_memory"], "traceback": None,
                "message": f"its worker ran out of memory twice ({cause})",
                "hint": "give each clip more memory (fewer clips per node: raise --cpus-per-clip) or cut the clip shorter"}
    return {"code": "internal", "exit_code": ERROR_EXIT_CODES["internal"], "traceback": None,
            "message": f"its worker was lost twice ({type(exc).__name__}: {cause})",
            "hint": "the Ray logs of the node (/tmp/ray/session_latest/logs) say why the worker died"}


def _pool_size(ray, cpus_per_clip, gpu, clips) -> int:
    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 0) // cpus_per_clip)
    if gpu:
        slots = min(slots, int(resources.get("GPU", 0)))
    if slots < 1:
        raise BackendError("bad_request", f"the Ray cluster cannot fit one clip: it has {resources.get('CPU', 0):g} CPUs "
                           f"and {resources.get('GPU', 0):g} GPUs, a clip needs {cpus_per_clip:g} CPUs"
                           + (" and 1 GPU" if gpu else ""),
                           "lower --cpus-per-clip, use --device cpu, or add nodes to the cluster")
    return min(slots, clips)


def _say(line):
    print(line, file=sys.stderr)


def solve_on_cluster(clips: list[Clip], args, say=_say, advance=lambda: None) -> ClusterRun:
    """Solve ``clips`` (none of them done yet) on the cluster ``args.cluster``; the answers, by clip."""
    address = ray_address(args.cluster)
    ray = _import_ray()
    run = ClusterRun()
    options = solve_options(args)
    for key in ("body_model", "checkpoint"):  # workers start in other folders
        options[key] = os.path.abspath(options[key]) if options[key] else None
    gpu = (options["device"] or "auto").strip().lower().startswith("cuda")
    if gpu:
        options["device"] = "cuda"  # a worker sees only the GPU Ray gave it
    started = time.perf_counter()
    _check_reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=args.verbose)
    except ConnectionError as exc:
        raise BackendError("bad_request", f"cannot reach a Ray cluster at {address}: {exc}",
                           "start one with `ray start --head` (see the README), or check --cluster") from exc
    try:
        run.connect_seconds = time.perf_counter() - started
        worker_class = ray.remote(ClipWorker).options(
            num_cpus=args.cpus_per_clip, num_gpus=1 if gpu else 0, max_restarts=0, max_task_retries=0)
        run.workers = _pool_size(ray, args.cpus_per_clip, gpu, len(clips))

        def new_worker():
            return worker_class.remote(options, args.verbose)

        idle = [new_worker() for _ in range(run.workers)]
        queue = collections.deque(clips)
        running = {}  # ObjectRef -> (clip, worker)
        while queue or running:
            while queue and idle:
                clip, worker = queue.popleft(), idle.pop()
                clip.attempts += 1
                clip.submitted = time.perf_counter()
                running[worker.run_clip.remote(clip.video, clip.out)] = clip, worker
            [ref], _ = ray.wait(list(running), num_returns=1)
            clip, worker = running.pop(ref)
            try:
                outcome = ray.get(ref)
                idle.append(worker)
            except ray.exceptions.RayTaskError as exc:  # the call itself broke (run_clip never raises)
                outcome = {"status": "failed", "failure": describe_failure(exc)}
                idle.append(worker)
            except ray.exceptions.RayError as exc:  # the worker died under the clip
                run.lost_workers += 1
                ray.kill(worker)
                idle.append(new_worker())
                if clip.attempts < ATTEMPTS_PER_CLIP:
                    say(f"{clip.label}worker lost ({type(exc).__name__}); retrying the clip once")
                    queue.appendleft(clip)
                    continue
                outcome = {"status": "failed", "failure": _worker_lost_failure(ray, exc)}
            outcome["latency"] = time.perf_counter() - clip.submitted
            run.outcomes[clip.position] = outcome
            if outcome["status"] == "done":
                say(f"{clip.label}{outcome['message']}")
            else:
                for line in failure_lines(outcome["failure"], clip.label):
                    say(line)
            advance()
        return run
    finally:
        ray.shutdown()


def clips_to_solve(listed) -> tuple[list[Clip], list[str]]:
    """``(clips without a result yet, skip messages for the others)`` of ``folder_clips``' list."""
    pending, skipped = [], []
    for position, (name, video, out) in enumerate(listed, 1):
        label = clip_label(position, len(listed), name)
        if clip_done(out):
            skipped.append(f"{label}skipped, {out} exists")
        else:
            pending.append(Clip(label, os.path.abspath(video), os.path.abspath(out), position))
    return pending, skipped


def run_folder_on_cluster(listed, args) -> int:
    """``run-folder`` with ``--cluster``: skip what is done, solve the rest on the cluster, report."""
    pending, skipped = clips_to_solve(listed)
    for line in skipped:
        print(line, file=sys.stderr)
    counts = {"done": 0, "skipped": len(skipped), "failed": 0}
    first_failure = 0
    if pending:
        try:
            progress = _ClipProgress(len(pending))
            try:
                run = solve_on_cluster(pending, args, say=progress.say, advance=progress.advance)
            finally:
                progress.close()
        except KeyboardInterrupt:
            print("cancelled", file=sys.stderr)  # results already written stay; a rerun skips them
            return ERROR_EXIT_CODES["cancelled"]
        except Exception as exc:  # noqa: BLE001 - connection, resources, a missing Ray
            return print_failure(describe_failure(exc))
        for position in sorted(run.outcomes):
            outcome = run.outcomes[position]
            counts[outcome["status"]] += 1
            if outcome["status"] == "failed":
                first_failure = first_failure or outcome["failure"]["exit_code"]
        print(f"cluster: {run.workers} workers, {run.lost_workers} lost", file=sys.stderr)
    print_summary(counts)
    return first_failure
