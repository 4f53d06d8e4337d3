"""The job sub-commands of the CLI: ``run``, ``run-folder`` and ``serve``.

Exit status: 0 on success, else ``ERROR_EXIT_CODES[code]`` with ``error: ...`` and ``hint: ...``
on stderr. A progress bar is drawn only when stderr is a terminal.
"""
import logging
import os
import sys
import traceback

from backend.device import DEVICE_CHOICES
from smplcore.protocol import ERROR_EXIT_CODES

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


def _report_failure(exc: BaseException, prefix="") -> int:
    from backend.errors import as_backend_error

    if isinstance(exc, KeyboardInterrupt):
        print(f"{prefix}cancelled", file=sys.stderr)
        return ERROR_EXIT_CODES["cancelled"]
    error = as_backend_error(exc)
    if error is not exc:  # an unexpected exception: the traceback is what a bug report needs
        traceback.print_exception(exc, file=sys.stderr)
    print(f"{prefix}error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"{prefix}hint: {error.hint}", file=sys.stderr)
    return error.exit_code


def _run_one(video_path, out, args, label="") -> int:
    from backend.pipeline import run_video

    bars = _ProgressBars(label)
    try:
        result = run_video(video_path, out, start=args.start, end=args.end, device=args.device,
                           body_model=args.body_model, checkpoint=args.checkpoint, focal=args.focal,
                           progress=bars, overwrite=args.overwrite)
    except (Exception, KeyboardInterrupt) as exc:
        bars.close()
        return _report_failure(exc, label)
    bars.close()
    print(f"{label}wrote {out}: {result.num_frames} frames, person seen on {int(result.valid.sum())}",
          file=sys.stderr)
    return 0


def run(args) -> int:
    _setup_logging(args.verbose)
    return _run_one(args.video, args.out, args)


def _already_done(path) -> bool:
    from smplcore.result import MotionResult, ResultFileError

    try:
        MotionResult.load(path)
        return True
    except ResultFileError:
        return False


def run_folder(args) -> int:
    from backend.video import VIDEO_EXTENSIONS

    _setup_logging(args.verbose)
    if not os.path.isdir(args.folder):
        print(f"error: not a folder: {args.folder}", file=sys.stderr)
        return ERROR_EXIT_CODES["bad_request"]
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        print(f"error: --out {args.out} is a file; run-folder writes one result per video into a folder",
              file=sys.stderr)
        return ERROR_EXIT_CODES["bad_request"]
    videos = sorted(name for name in os.listdir(args.folder)
                    if name.lower().endswith(VIDEO_EXTENSIONS) and not name.startswith("."))
    if not videos:
        print(f"error: no video files ({', '.join(VIDEO_EXTENSIONS)}) in {args.folder}", file=sys.stderr)
        return ERROR_EXIT_CODES["bad_request"]
    stems = [os.path.splitext(name)[0] for name in videos]
    first_failure, counts = 0, {"done": 0, "skipped": 0, "failed": 0}
    for position, (name, stem) in enumerate(zip(videos, stems), 1):
        # clip.mp4 and clip.mov in one folder must not share clip.npz
        out = os.path.join(args.out, (name if stems.count(stem) > 1 else stem) + ".npz")
        label = f"[{position}/{len(videos)}] {name}: "
        if os.path.isfile(out) and _already_done(out):
            print(f"{label}skipped, {out} exists", file=sys.stderr)
            counts["skipped"] += 1
            continue
        status = _run_one(os.path.join(args.folder, name), out, args, label)
        if status == ERROR_EXIT_CODES["cancelled"]:
            return status
        counts["done" if status == 0 else "failed"] += 1
        first_failure = first_failure or status
    print(f"{counts['done']} done, {counts['skipped']} skipped (already done), {counts['failed']} failed",
          file=sys.stderr)
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
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output file even when it is not a result file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")


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
    _add_solve_options(folder_parser)
    folder_parser.set_defaults(func=run_folder)

    serve_parser = commands.add_parser("serve", help="JSON lines on stdin/stdout for the Blender add-on")
    serve_parser.add_argument("--log-file", default=None, help="also append the log to this file")
    serve_parser.set_defaults(func=serve)
