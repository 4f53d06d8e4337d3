"""Client for the backend process (``python -m backend serve``), JSON lines over pipes.

One long-lived backend per Blender session (torch takes seconds to import), shared by all
jobs. A reader thread routes events to :class:`Job` objects; the main thread only ever polls
them, so nothing here touches bpy and nothing blocks Blender's UI. ``Job.wait`` is the
blocking mode for ``blender -b`` and bpy-module scripts, where timers never fire.
"""
import collections
import itertools
import queue
import re
import subprocess
import threading
import time

from ..smplcore import protocol
from ..smplcore.protocol import BackendError
from . import ADDON_ROOT, backend_env

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"

# An ERROR/CRITICAL line of the backend's own log format, or the last line of a Python traceback.
_OWN_ERROR_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (ERROR|CRITICAL) backend|^[A-Za-z_][\w.]*(Error|Exception): ")


class Job:
    """A future for one backend request: progress, result path or error, cancellation."""

    def __init__(self, backend, job_id, request):
        self.backend, self.id, self.request = backend, job_id, request
        self.submitted = time.monotonic()
        self.state = RUNNING
        self.stage, self.done_count, self.total = "starting", 0, 0
        self.result_path = None
        self.result_index = None  # the persons index of a ``person: all`` run
        self.error = None
        self._events = queue.SimpleQueue()  # filled by the reader thread

    @property
    def finished(self):
        return self.state != RUNNING

    @property
    def progress(self):
        """Fraction of the current stage, or None when the backend has not said."""
        return self.done_count / self.total if self.total else None

    def deliver(self, event):
        self._events.put(event)

    def poll(self):
        """Apply every event received so far; returns the state. A backend that sent nothing
        (no progress, no heartbeat) for ``backend.silence_timeout`` seconds fails the job."""
        if self.state == RUNNING and self._events.empty():
            silent = time.monotonic() - max(self.submitted, self.backend.last_heard)
            if silent > self.backend.silence_timeout:
                self.error = self.backend.abandon(silent)
                self.state = FAILED
        while self.state == RUNNING:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            kind = event.get("type")
            if kind == "progress":
                self.stage = str(event.get("stage", self.stage))
                self.done_count, self.total = int(event.get("done", 0)), int(event.get("total", 0))
            elif kind == "result":
                self.result_path, self.result_index, self.state = event.get("path"), event.get("index"), DONE
            elif kind == "cancelled":
                self.state = CANCELLED
            elif kind == "error":
                self.error = BackendError.from_event(event)
                self.state = FAILED
        return self.state

    def cancel(self):
        """Ask the backend to stop; the job counts as cancelled at once (late events are dropped)."""
        if self.state == RUNNING:
            self.state = CANCELLED
            self.backend.send({"type": "cancel", "id": self.id})

    def wait(self, timeout=None, on_update=None, interval=0.1):
        """Block until the job ends (blocking mode). Ctrl-C cancels the job."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while self.poll() == RUNNING:
                if on_update is not None:
                    on_update(self)
                if deadline is not None and time.monotonic() > deadline:
                    self.cancel()
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            self.cancel()
            raise
        return self.state


class Backend:
    """A running ``python -m backend serve`` process."""

    def __init__(self, python, log_path=None, env=None, silence_timeout=None):
        self.python = python
        self.log_path = log_path
        self.stderr_tail = collections.deque(maxlen=40)
        self.hello = None
        self.silence_timeout = protocol.HEARTBEAT_TIMEOUT_S if silence_timeout is None else silence_timeout
        self.last_heard = time.monotonic()  # any line on the backend's stdout
        self._abandoned = None
        self._jobs = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        full_env = backend_env.clean_env(dict(env or {}, PYTHONUNBUFFERED="1"))
        try:
            self.process = subprocess.Popen(
                [python, "-u", "-m", "backend", "serve"], cwd=ADDON_ROOT, env=full_env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8", bufsize=1,
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        except OSError as exc:
            raise BackendError("backend_start", f"cannot start the backend with {python}: {exc}",
                               "set the backend Python in the add-on preferences") from exc
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.send({"type": "hello"})

    # -- requests -------------------------------------------------------------------------

    def alive(self):
        return self.process.poll() is None

    def send(self, message):
        try:
            self.process.stdin.write(protocol.encode(message))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the process is gone: the stdout reader fails the pending jobs

    def submit(self, request):
        job_id = f"job{next(self._ids)}"
        job = Job(self, job_id, request)
        with self._lock:
            self._jobs[job_id] = job
        self.send(dict(request, id=job_id))
        if not self.alive():
            job.deliver(self._exit_event())
        return job

    def run(self, video, out, options, start=None, end=None):
        return self.submit({"type": "run", "video": video, "out": out, "start": start, "end": end,
                            "options": options})

    def refine(self, result, out, start, end, fixed, options, contacts="auto"):
        return self.submit({"type": "refine", "result": result, "out": out, "start": int(start),
                            "end": int(end), "fixed": fixed, "contacts": contacts, "options": options})

    def shutdown(self, timeout=3.0):
        if self.alive():
            self.send({"type": "shutdown"})
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin,):
            try:
                stream.close()
            except OSError:
                pass

    # -- reader threads -----------------------------------------------------------------------

    def abandon(self, silent_seconds):
        """Give up on a backend that stopped answering: kill it (a stopped process too), so the
        next job starts a fresh one; the error tells the user what happened."""
        self._abandoned = BackendError(
            "backend_unresponsive", f"the backend sent nothing for {silent_seconds:.0f} s (no progress, no "
            "heartbeat): it is frozen or was stopped", "run the job again (a new backend is started); "
            f"if it happens again, see the backend log{self._log_note()}")
        try:
            self.process.kill()
        except OSError:
            pass
        return self._abandoned

    def _log_note(self):
        return f" ({self.log_path})" if self.log_path else ""

    def _read_stdout(self):
        for line in self.process.stdout:
            self.last_heard = time.monotonic()
            if not line.strip():
                continue
            try:
                event = protocol.decode(line)
            except ValueError as exc:
                self.stderr_tail.append(f"(unparsable backend output: {exc}) {line.strip()[:200]}")
                continue
            self._route(event)
        self.process.wait()
        exit_event = self._exit_event()
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.deliver(exit_event)

    def _route(self, event):
        if event["type"] == "hello":
            self.hello = event
            if event.get("protocol") != protocol.PROTOCOL_VERSION:
                self._fail_all(BackendError(
                    "protocol", f"backend speaks protocol {event.get('protocol')}, the add-on "
                                f"{protocol.PROTOCOL_VERSION}", "update the add-on and the backend together"))
            return
        with self._lock:
            job = self._jobs.get(event.get("id"))
            jobs = [job] if job else list(self._jobs.values()) if event["type"] == "error" else []
        for target in jobs:  # an error without a job id concerns every job
            target.deliver(event)

    def _fail_all(self, error):
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.deliver({"type": "error", "code": error.code, "message": error.message, "hint": error.hint})
        self.send({"type": "shutdown"})

    def _read_stderr(self):
        log = open(self.log_path, "a", encoding="utf-8") if self.log_path else None
        try:
            for line in self.process.stderr:
                self.stderr_tail.append(line.rstrip())
                if log:
                    log.write(line)
                    log.flush()
        finally:
            if log:
                log.close()

    def _exit_event(self):
        if self._abandoned is not None:  # killed by abandon(): say why, not "killed"
            error = self._abandoned
            return {"type": "error", "code": error.code, "message": error.message, "hint": error.hint}
        code = self.process.poll()
        if code is not None and code < 0:
            message = f"the backend process was killed (signal {-code})"
            cause = "the system may have run out of memory; "
        else:
            message, cause = f"the backend process exited (status {code})", ""
        # only the backend's own error lines; third-party log noise (MediaPipe, absl) says nothing useful
        own = [line for line in self.stderr_tail if _OWN_ERROR_LINE.match(line)]
        said = f"it last said: {own[-1][:300]}; " if own else ""
        return {"type": "error", "code": "backend_exited", "message": message,
                "hint": f"{said}{cause}see the backend log{self._log_note()}"}


_shared = None


def shared_backend(python, log_path=None):
    """The session's backend, (re)started when it died or the interpreter changed."""
    global _shared
    if _shared is not None and (not _shared.alive() or _shared.python != python):
        _shared.shutdown()
        _shared = None
    if _shared is None:
        _shared = Backend(python, log_path=log_path)
    return _shared


def shutdown_shared_backend():
    global _shared
    if _shared is not None:
        _shared.shutdown()
        _shared = None
