"""``python -m backend serve``: the JSON-lines protocol of ``smplcore.protocol`` on stdin/stdout.

The main thread only reads requests, so ``hello`` and ``cancel`` are answered at once while a
job runs. Jobs run one at a time in a worker thread, in the order they arrived. Each job writes
its result to a hidden temporary file; publishing it (rename + ``result`` event) and cancelling
take the same lock, so after a ``cancelled`` event no result file of that job ever appears.
Only protocol lines go to stdout: file descriptor 1 is re-pointed at stderr so that stray
prints of native libraries land in the log.
"""
import contextlib
import importlib.util
import logging
import os
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from backend.errors import BackendError, Cancelled, as_backend_error
from backend.job import JobContext
from smplcore import protocol

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 2.0      # the add-on kills the process after 3 s


@dataclass
class Job:
    id: object
    kind: str                  # "run" or "refine"
    args: dict                 # keyword arguments of the pipeline function
    context: JobContext = field(default_factory=JobContext)  # the server's, with a listener, once submitted
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished: bool = False
    partial: str | None = None  # the hidden file the running job writes, removed whatever happens


def _bad(message, job_id=None, hint="see smplcore/protocol.py for the request format"):
    error = BackendError("bad_request", message, hint)
    error.job_id = job_id
    return error


def _optional(request, key, kinds, job_id):
    value = request.get(key)
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
        raise _bad(f"'{key}' has the wrong type ({type(value).__name__})", job_id)
    return value


def _required(request, key, kinds, job_id):
    value = _optional(request, key, kinds, job_id)
    if value is None:
        raise _bad(f"'{request['type']}' needs '{key}'", job_id)
    return value


def _flag(options, key, job_id) -> bool:
    value = options.get(key, False)
    if not isinstance(value, bool):
        raise _bad(f"'{key}' must be true or false", job_id)
    return value


def _options(request, job_id) -> dict:
    options = request.get("options") or {}
    if not isinstance(options, dict):
        raise _bad("'options' must be an object", job_id)
    overwrite = _flag(options, "overwrite", job_id)
    return dict(device=_optional(options, "device", str, job_id) or "auto",
                body_model=_optional(options, "body_model", str, job_id),
                checkpoint=_optional(options, "checkpoint", str, job_id), overwrite=overwrite)


def parse_job(request: dict) -> Job:
    """A validated job from a ``run`` or ``refine`` request (raises BackendError bad_request)."""
    job_id = request.get("id")
    if not isinstance(job_id, (str, int)) or isinstance(job_id, bool):
        raise _bad(f"'{request['type']}' needs a string 'id'")
    args = _options(request, job_id)
    args["out"] = _required(request, "out", str, job_id)
    if request["type"] == "run":
        options = request.get("options") or {}
        person = options.get("person", "main")
        if person not in ("main", "all") and (not isinstance(person, int) or isinstance(person, bool) or person < 0):
            raise _bad(f"'person' must be \"main\", \"all\" or a person number, got {person!r}", job_id)
        args.update(video_path=_required(request, "video", str, job_id),
                    start=_optional(request, "start", int, job_id), end=_optional(request, "end", int, job_id),
                    focal=_optional(options, "focal", (int, float), job_id),
                    foot_lock=_optional(options, "foot_lock", str, job_id) or "auto", person=person,
                    max_gap=_optional(options, "max_gap", (int, float), job_id), hands=_flag(options, "hands", job_id),
                    height=_optional(options, "height", (int, float), job_id))
    else:
        fixed = request.get("fixed") or {}
        if not isinstance(fixed, dict):
            raise _bad("'fixed' must map frame numbers to 72 axis-angle numbers", job_id)
        args.update(result_path=_required(request, "result", str, job_id),
                    start=_required(request, "start", int, job_id), end=_required(request, "end", int, job_id),
                    fixed=fixed, contacts=_optional(request, "contacts", str, job_id) or "auto")
    return Job(job_id, request["type"], args)


def missing_packages() -> list[str]:
    """Required packages this interpreter cannot find (found by name, nothing is imported)."""
    return [name for name in protocol.REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]


class Server:
    def __init__(self, events, missing=()):
        self._events = events
        self._missing = list(missing)
        self._write_lock = threading.Lock()
        self._last_emit = time.monotonic()
        self._queue = queue.Queue()
        self._jobs = {}             # id -> Job, queued or running
        self._jobs_lock = threading.Lock()
        self._stopping = threading.Event()
        self._models = None         # the session's ModelCache: models load once per session
        self._worker = threading.Thread(target=self._work, name="jobs", daemon=True)
        self._worker.start()
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()

    # -- output ---------------------------------------------------------------------------

    def emit(self, event: dict):
        line = protocol.encode(event)
        with self._write_lock:
            self._events.write(line)
            self._events.flush()
            self._last_emit = time.monotonic()

    def _heartbeat(self):
        """While jobs are pending, say so at least every HEARTBEAT_INTERVAL_S (stages such as
        model loading report no progress for seconds); a stopped process sends nothing."""
        interval = protocol.HEARTBEAT_INTERVAL_S
        while not self._stopping.wait(interval / 4):
            with self._jobs_lock:
                pending = [job.id for job in self._jobs.values() if not job.finished]
            if pending and time.monotonic() - self._last_emit >= interval:
                try:
                    self.emit({"type": "heartbeat", "id": pending[0]})
                except (OSError, ValueError):  # stdout closed: the client is gone
                    return

    def _setup_error(self, job_id=None):
        return BackendError("missing_packages", "the backend's Python lacks required packages: "
                            + ", ".join(self._missing), protocol.SETUP_HINT).event(job_id)

    # -- the reading side (main thread) ---------------------------------------------------

    def serve(self, lines) -> int:
        for line in lines:
            try:
                if line.strip() and not self.handle(line):
                    break
            except Exception as exc:  # a bug in request handling must not end the session
                log.error("request handling crashed:\n%s", traceback.format_exc())
                self.emit(as_backend_error(exc).event())
        self.shutdown()
        return 0

    def handle(self, line: str) -> bool:
        """Answer one request line; False when the server should stop."""
        try:
            request = protocol.decode(line)
        except ValueError as exc:
            self.emit(BackendError("bad_request", f"malformed request: {exc}",
                                   "send one JSON object per line").event())
            return True
        kind = request["type"]
        try:
            if kind == "hello":
                self.emit({"type": "hello", "id": request.get("id"), "protocol": protocol.PROTOCOL_VERSION,
                           "pid": os.getpid(), "python": sys.version.split()[0],
                           "missing_packages": self._missing})
                if self._missing:
                    self.emit(self._setup_error(request.get("id")))
            elif kind in ("run", "refine"):
                job = parse_job(request)
                if self._missing:
                    self.emit(self._setup_error(job.id))
                else:
                    self._submit(job)
            elif kind == "cancel":
                self._cancel(request.get("id"))
            elif kind == "shutdown":
                return False
            else:
                raise _bad(f"unknown request type {kind!r} (known: {', '.join(protocol.REQUEST_TYPES)})",
                           request.get("id"))
        except BackendError as exc:
            self.emit(exc.event(getattr(exc, "job_id", None)))
        return True

    def _submit(self, job: Job):
        with self._jobs_lock:
            if job.id in self._jobs:
                raise _bad(f"a job with id {job.id!r} is already queued or running", job.id,
                           "use a new id for every request")
            job.context = JobContext(lambda stage, done, total: self._emit_progress(job, stage, done, total))
            self._jobs[job.id] = job
        self._queue.put(job)

    def _cancel(self, job_id):
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None:
            log.info("cancel for %r: no such job queued or running (already finished?)", job_id)
            return
        with job.lock:
            if job.finished:
                return
            job.context.cancel()
            job.finished = True  # the worker now publishes nothing for it
        self.emit({"type": "cancelled", "id": job.id})
        log.info("job %r cancelled", job.id)

    def shutdown(self):
        with self._jobs_lock:
            pending = list(self._jobs.values())
        for job in pending:
            self._cancel(job.id)
        self._queue.put(None)
        self._stopping.set()
        self._worker.join(SHUTDOWN_GRACE_S)
        if self._worker.is_alive():
            log.warning("a job did not stop within %.0f s of shutdown; exiting anyway", SHUTDOWN_GRACE_S)
            for job in pending:  # the worker's own clean-up will not run: the process ends first
                if job.partial:
                    _remove_leftovers(job.partial)

    # -- the working side (worker thread) -------------------------------------------------

    def _work(self):
        """The job thread: it never dies; whatever escapes a job still becomes an error event."""
        while (job := self._queue.get()) is not None:
            try:
                self._execute(job)
            except BaseException as exc:  # noqa: BLE001 - the error path itself failed
                self._last_resort_error(job, exc)
            finally:
                with self._jobs_lock:
                    self._jobs.pop(job.id, None)

    def _last_resort_error(self, job, exc):
        """Standard library only: used when building the normal error event failed."""
        try:
            log.error("job %r: the error handler failed: %s", job.id, traceback.format_exc())
            with job.lock:
                if job.finished:
                    return
                job.finished = True
            self.emit({"type": "error", "id": job.id, "code": "internal",
                       "message": f"internal error: {type(exc).__name__}: {exc}",
                       "hint": "this is a bug: please report it with the backend log"})
        except BaseException:  # noqa: BLE001 - nothing is left to tell; keep the thread alive
            pass

    def _emit_progress(self, job: Job, stage, done, total):
        with job.lock:
            if not job.finished:
                self.emit({"type": "progress", "id": job.id, "stage": stage, "done": done, "total": total})

    def _execute(self, job: Job):
        out = job.args["out"]
        partial = job.partial = os.path.join(os.path.dirname(os.path.abspath(out)),
                                             f".{os.path.basename(out)}.{os.getpid()}.partial")
        log.info("job %r: %s %s", job.id, job.kind, job.args.get("video_path") or job.args.get("result_path"))
        try:
            job.context.check()
            from backend import pipeline  # imported on first use: `serve` must answer hello at once
            from backend.models import ModelCache
            from backend.output import check_output

            # the job itself writes `partial`; the final path is checked here, against its inputs
            inputs = (job.args.get("video_path") or job.args.get("result_path"), job.args.get("body_model"),
                      job.args.get("checkpoint"))
            check_output(out, inputs, job.args.get("overwrite", False))
            self._models = self._models or ModelCache()
            if job.kind == "run":
                pipeline.run_video(**dict(job.args, out=partial), publish_as=out, job=job.context,
                                   model_cache=self._models)
            else:
                pipeline.refine_result(**dict(job.args, out=partial), job=job.context, model_cache=self._models)
            extras = _extra_files(partial, out)
            for _, final in extras:  # the further persons' files obey the same rules as `out`
                check_output(final, inputs, job.args.get("overwrite", False))
            with job.lock:
                if not job.finished:
                    event = {"type": "result", "id": job.id, "path": os.path.abspath(out)}
                    for written, final in extras:
                        os.replace(written, final)
                        if final.endswith(".json"):
                            event["index"] = os.path.abspath(final)
                    os.replace(partial, out)
                    job.finished = True
                    self.emit(event)
        except Cancelled:
            pass
        except BaseException as exc:  # every failure becomes an error event, never silence
            error = as_backend_error(exc)
            if error is not exc:
                log.error("job %r crashed:\n%s", job.id, traceback.format_exc())
            else:
                log.info("job %r failed: %s", job.id, error)
            with job.lock:
                if not job.finished:
                    job.finished = True
                    self.emit(error.event(job.id))
        finally:
            _remove_leftovers(partial)


def _remove_leftovers(partial):
    """Remove what an unpublished job wrote: its partial result and further persons' files."""
    for leftover in [partial] + [written for written, _ in _extra_files(partial, partial)]:
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)


def _extra_files(partial, out):
    """``(written, final)`` for the further person files and the index a ``person: all`` job wrote."""
    from backend.output import index_path, person_path  # standard library only

    pairs, number = [], 1
    while os.path.exists(person_path(partial, number)):
        pairs.append((person_path(partial, number), person_path(out, number)))
        number += 1
    if os.path.exists(index_path(partial)):
        pairs.append((index_path(partial), index_path(out)))
    return pairs


def protocol_stream():
    """The real stdout as a text stream; fd 1 (and ``sys.stdout``) then point at stderr."""
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1, newline="\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return events


def main() -> int:
    missing = missing_packages()
    if missing:
        log.error("missing packages: %s (%s)", ", ".join(missing), protocol.SETUP_HINT)
    server = Server(protocol_stream(), missing)
    log.info("serving protocol %d on stdin/stdout (pid %d)", protocol.PROTOCOL_VERSION, os.getpid())
    code = server.serve(iter(sys.stdin.readline, ""))
    # Threads of a cancelled job (model loading, video decoding) may still be inside torch or
    # MediaPipe; finalizing the interpreter under them aborts the process (SIGABRT). Every event
    # is already flushed, so the process leaves without finalizing.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)
