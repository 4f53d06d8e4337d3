"""The job sub-commands of the CLI: ``run``, ``run-folder`` and ``serve``.

Exit status: 0 on success, else ``ERROR_EXIT_CODES[code]`` with ``error: ...`` and ``hint: ...``
on stderr. A progress bar is drawn only when stderr is a terminal.
"""
import argparse
import logging
import os
import sys
import traceback

from backend.device import DEVICE_CHOICES
from smplcore.protocol import ERROR_EXIT_CODES, FOOT_LOCK_MODES

log = logging.getLogger("backend")


def _setup_logging(verbose: bool, log_file=None):
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class _ProgressBars:
    """One tqdm bar per stage on a terminal; nothing otherwise."""

    def __init__(self, label=""):
        self.enabled = sys.stderr.isatty()
        self.label = label
        self.bar, self.stage = None, None

    def __call__(self, stage, done, total):
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total or None, desc=f"{self.label}{stage}", unit="frame", file=sys.stderr,
                            leave=False, dynamic_ncols=True)
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def describe_failure(exc: BaseException) -> dict:
    """What a failed clip reports, as plain data (it also crosses from a cluster worker):
    the error code, exit status, message, hint, and the traceback when the error is a bug."""
    from backend.errors import as_backend_error

    error = as_backend_error(exc)
    # an unexpected exception: the traceback is what a bug report needs
    trace = "".join(traceback.format_exception(exc)) if error is not exc else None
    return {"code": error.code, "exit_code": error.exit_code, "message": error.message, "hint": error.hint,
            "traceback": trace}


def failure_lines(failure: dict, prefix="") -> list[str]:
    lines = [failure["traceback"].rstrip("\n")] if failure["traceback"] else []
    lines.append(f"{prefix}error: {failure['message']}")
    if failure["hint"]:
        lines.append(f"{prefix}hint: {failure['hint']}")
    return lines


def print_failure(failure: dict, prefix="") -> int:
    for line in failure_lines(failure, prefix):
        print(line, file=sys.stderr)
    return failure["exit_code"]


def _report_failure(exc: BaseException, prefix="") -> int:
    if isinstance(exc, KeyboardInterrupt):
        print(f"{prefix}cancelled", file=sys.stderr)
        return ERROR_EXIT_CODES["cancelled"]
    return print_failure(describe_failure(exc), prefix)


def solve_options(args) -> dict:
    """The options of ``run`` / ``run-folder`` that shape a solve: every one ``_add_solve_options``
    declares (derived from it, so a new option reaches local and cluster runs alike)."""
    return {name: getattr(args, name) for name in SOLVE_OPTIONS}


def solve_clip(video_path, out, options: dict, job=None, model_cache=None):
    """One video into its result file(s): the one solve that ``run``, ``run-folder`` and the
    cluster workers share. ``job``: its backend.job.JobContext (progress, cancel);
    ``model_cache``: the caller's backend.models.ModelCache (None: load for this clip)."""
    from backend.pipeline import run_video

    return run_video(video_path, out, job=job, model_cache=model_cache, **options)


def wrote_message(out, result) -> str:
    return f"wrote {out}: {result.num_frames} frames, person seen on {int(result.valid.sum())}"


def _run_one(video_path, out, args, label="", model_cache=None) -> int:
    from backend.job import JobContext

    bars = _ProgressBars(label)
    try:
        result = solve_clip(video_path, out, solve_options(args), job=JobContext(bars), model_cache=model_cache)
    except (Exception, KeyboardInterrupt) as exc:
        bars.close()
        return _report_failure(exc, label)
    bars.close()
    print(f"{label}{wrote_message(out, result)}", file=sys.stderr)
    if result.world_note:
        print(f"{label}warning: {result.world_note}", file=sys.stderr)
    return 0


def run(args) -> int:
    _setup_logging(args.verbose)
    return _run_one(args.video, args.out, args)


def clip_done(path) -> bool:
    """A valid result file is already at ``path`` (run-folder skips its clip)."""
    from smplcore.result import MotionResult, ResultFileError

    if not os.path.isfile(path):
        return False
    try:
        MotionResult.load(path)
        return True
    except ResultFileError:
        return False


def folder_clips(folder, out_folder) -> list[tuple[str, str, str]]:
    """``(name, video path, result path)`` for every video of ``folder``, by name."""
    from backend.video import VIDEO_EXTENSIONS

    videos = sorted(name for name in os.listdir(folder)
                    if name.lower().endswith(VIDEO_EXTENSIONS) and not name.startswith("."))
    stems = [os.path.splitext(name)[0] for name in videos]
    # clip.mp4 and clip.mov in one folder must not share clip.npz
    return [(name, os.path.join(folder, name), os.path.join(out_folder, (name if stems.count(stem) > 1 else stem) + ".npz"))
            for name, stem in zip(videos, stems)]


def clip_label(position, count, name) -> str:
    return f"[{position}/{count}] {name}: "


def print_summary(counts):
    print(f"{counts['done']} done, {counts['skipped']} skipped (already done), {counts['failed']} failed",
          file=sys.stderr)


def run_folder(args) -> int:
    from backend.models import ModelCache
    from backend.video import VIDEO_EXTENSIONS

    _setup_logging(args.verbose)
    if not os.path.isdir(args.folder):
        print(f"error: not a folder: {args.folder}", file=sys.stderr)
        return ERROR_EXIT_CODES["bad_request"]
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        print(f"error: --out {args.out} is a file; run-folder writes one result per video into a folder",
              file=sys.stderr)
        return ERROR_EXIT_CODES["bad_request"]
    clips = folder_clips(args.folder, args.out)
    if not clips:
        print(f"error: no video files ({', '.join(VIDEO_EXTENSIONS)}) in {args.folder}", file=sys.stderr)
        return ERROR_EXIT_CODES["bad_request"]
    if args.cluster is not None:
        from backend.cluster import run_folder_on_cluster

        return run_folder_on_cluster(clips, args)
    first_failure, counts = 0, {"done": 0, "skipped": 0, "failed": 0}
    models = ModelCache()  # loaded by the first video, kept for the others
    for position, (name, video_path, out) in enumerate(clips, 1):
        label = clip_label(position, len(clips), name)
        if clip_done(out):
            print(f"{label}skipped, {out} exists", file=sys.stderr)
            counts["skipped"] += 1
            continue
        status = _run_one(video_path, out, args, label, models)
        if status == ERROR_EXIT_CODES["cancelled"]:
            return status
        counts["done" if status == 0 else "failed"] += 1
        first_failure = first_failure or status
    print_summary(counts)
    return first_failure


def serve(args) -> int:
    from backend.serve import main

    _setup_logging(True, args.log_file)
    return main()


def _add_solve_options(parser):
    parser.add_argument("--start", type=int, default=None, metavar="F", help="first frame (0-based, default 0)")
    parser.add_argument("--end", type=int, default=None, metavar="F", help="last frame, inclusive (default: the last)")
    parser.add_argument("--device", default="auto", metavar="|".join(DEVICE_CHOICES),
                        help="where to solve (default auto: CUDA if present, else CPU)")
    parser.add_argument("--body-model", default=None, metavar="FILE", help="SMPL-format body model (default: the shipped one)")
    parser.add_argument("--checkpoint", default=None, metavar="FILE", help="ScoreHMR prior checkpoint (default: the shipped one)")
    parser.add_argument("--focal", type=float, default=None, metavar="PX",
                        help="focal length in pixels (default: a 55 degree horizontal field of view)")
    parser.add_argument("--foot-lock", default="auto", choices=FOOT_LOCK_MODES,
                        help="planted feet (static camera): auto (low and slow feet), always (every foot near "
                             "the floor), never (no foot locking); default auto")
    parser.add_argument("--person", default="main", metavar="main|all|N",
                        help="main (default): the person seen most, written to --out; all: also RESULT.person1.npz "
                             "... and the index RESULT.persons.json; N: only person N (numbers as in the index)")
    parser.add_argument("--max-gap", type=float, default=None, metavar="S",
                        help="longest absence (seconds) after which a person is still recognised (default 30)")
    parser.add_argument("--height", type=float, default=None, metavar="M",
                        help="the (main) performer's height in metres: sets the body's size and so its distance "
                             "from the camera and the length of its steps (default: estimated from the video)")
    parser.add_argument("--hands", action="store_true",
                        help="also capture the fingers (hand_poses in the result, on the SMPL-H body with fingers)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output file even when it is not a result file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")


def _solve_option_names() -> tuple:
    declared = argparse.ArgumentParser(add_help=False)
    _add_solve_options(declared)
    return tuple(name for name in vars(declared.parse_args([])) if name != "verbose")


SOLVE_OPTIONS = _solve_option_names()


def add_commands(commands):
    """Register run, run-folder and serve on the CLI's sub-parsers."""
    run_parser = commands.add_parser("run", help="one video -> one result .npz")
    run_parser.add_argument("video", help="video file")
    run_parser.add_argument("--out", required=True, metavar="RESULT.npz", help="result file to write")
    _add_solve_options(run_parser)
    run_parser.set_defaults(func=run)

    folder_parser = commands.add_parser("run-folder", help="every video of a folder; skips results already written")
    folder_parser.add_argument("folder", metavar="DIR", help="folder of videos (not searched recursively)")
    folder_parser.add_argument("--out", required=True, metavar="DIR", help="folder for the result files")
    folder_parser.add_argument("--cluster", default=None, metavar="ray[://HOST:PORT|auto]",
                               help="solve the clips on a Ray cluster, one task per clip (needs requirements-cluster.txt); "
                                    "ray or ray://auto: the cluster this machine belongs to; ray://HOST:PORT: its head")
    folder_parser.add_argument("--cpus-per-clip", type=float, default=1, metavar="N",
                               help="with --cluster: CPUs each clip holds on a worker (default 1; --device cuda also holds one GPU)")
    _add_solve_options(folder_parser)
    folder_parser.set_defaults(func=run_folder)

    serve_parser = commands.add_parser("serve", help="JSON lines on stdin/stdout for the Blender add-on")
    serve_parser.add_argument("--log-file", default=None, help="also append the log to this file")
    serve_parser.set_defaults(func=serve)
