"""Long-running work the sidebar shows: a status line, a progress bar and a Cancel button.

A task is stepped without blocking (``step()``, from a modal operator's timer: the only place
that drains backend events) or waited on (blocking mode for ``blender -b`` and scripts). Reading
``state``, ``status`` and ``progress`` never changes anything, so panels and polls may read them.
One task runs at a time.
"""
import collections
import re
import subprocess
import threading
import time

from .client import CANCELLED, DONE, FAILED, RUNNING

_active = None
last_status = ""  # outcome of the last finished task, shown until the next one starts


def active():
    """The running task, or None."""
    return _active if _active is not None and _active.state == RUNNING else None


def set_active(task):
    global _active
    _active = task


# Backend stage -> what the user reads. Unknown stages (a newer backend) show capitalised.
STAGE_LABELS = {"starting": "Starting the backend", "decode": "Reading the video", "detect": "Finding the person",
                "track": "Following the person", "init": "Estimating the body", "refine": "Solving motion",
                "world": "Placing the floor", "hands": "Solving the hands", "write": "Saving"}
# Share of the whole job each stage takes (measured on CPU: detection dominates an import).
JOB_PLANS = {"Import": (("detect", 0.6), ("init", 0.05), ("refine", 0.35)), "Refine": (("refine", 1.0),)}


def stage_label(stage):
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())


def overall_fraction(plan, stage, done, total):
    """One bar over the whole job: the finished stages' shares plus the current stage's part."""
    names = [name for name, _ in plan]
    if stage not in names:
        return None
    index = names.index(stage)
    before = sum(weight for _, weight in plan[:index])
    part = done / total if total else 0.0
    return min(1.0, before + plan[index][1] * part)


class JobTask:
    """A backend job (run / refine) seen as a task."""

    def __init__(self, label, job, on_discard=None):
        self.label, self.job = label, job
        self._on_discard = on_discard
        self._plan = JOB_PLANS.get(label, ())
        self._last_fraction = 0.0

    @property
    def state(self):
        return self.job.state

    def step(self):
        """Apply the backend events received so far (modal timer tick)."""
        return self.job.poll()

    @property
    def progress(self):
        job = self.job
        fraction = overall_fraction(self._plan, job.stage, job.done_count, job.total)
        if fraction is not None:
            self._last_fraction = max(self._last_fraction, fraction)  # never runs backwards
        return self._last_fraction

    @property
    def status(self):
        job = self.job
        if job.state == FAILED:
            return str(job.error)
        count = f" {job.done_count}/{job.total}" if job.total else ""
        return f"{stage_label(job.stage)}{count}"

    @property
    def error(self):
        return self.job.error

    def cancel(self):
        self.job.cancel()

    def wait(self, on_update=None):
        return self.job.wait(on_update=on_update and (lambda _job: on_update(self)))

    def discard(self):
        """The job ended without a result the add-on uses: clean up after it."""
        if self._on_discard is not None:
            self._on_discard()


_DOWNLOAD = re.compile(r"Downloading \S+ \(([\d.]+) (kB|MB|GB)\)")
_UNIT_MB = {"kB": 1e-3, "MB": 1.0, "GB": 1e3}


class CommandTask:
    """A sequence of subprocess commands run in a thread (backend venv setup, doctor).

    ``steps`` are (label, weight, argv); the bar is the finished steps' weights. A command's
    stdout is kept (``stdout``); its stderr and the pip download sizes go to ``log``.
    ``on_end(state)`` runs in the thread once the task has ended, whatever the outcome.
    """

    def __init__(self, label, steps, cwd=None, env=None, on_end=None):
        self.label, self.steps, self.cwd, self.env = label, list(steps), cwd, env
        self._on_end = on_end
        self._state = RUNNING
        self.step_index = 0
        self.last_line = ""
        self.downloaded_mb = 0.0
        self.output = collections.deque(maxlen=400)
        self.log = collections.deque(maxlen=400)
        self.error = None
        self._process = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run_all, daemon=True)
        self._thread.start()

    @property
    def state(self):
        return self._state

    def step(self):
        return self._state  # the thread updates the state itself

    def discard(self):
        pass  # on_end has cleaned up already

    @property
    def progress(self):
        return sum(weight for _, weight, _ in self.steps[:self.step_index])

    @property
    def status(self):
        if self._state == FAILED:
            return str(self.error)
        name = self.steps[min(self.step_index, len(self.steps) - 1)][0] if self.steps else ""
        size = f" ({self.downloaded_mb:,.0f} MB downloaded)" if self.downloaded_mb >= 1 else ""
        return f"{self.label}: {name}{size}"

    @property
    def stdout(self):
        return "\n".join(self.output)

    def cancel(self):
        self._cancel.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()

    def wait(self, on_update=None):
        while self._thread.is_alive():
            if on_update:
                on_update(self)
            time.sleep(0.1)
        return self._state

    def _run_all(self):
        try:
            state = self._run()
        except BaseException as exc:  # the thread must always end the task
            self.error, state = RuntimeError(f"{self.label}: {exc}"), FAILED
        if self._on_end is not None:
            self._on_end(state)  # before the state changes: whoever waits sees its clean-up done
        self._state = state

    def _run(self):
        for index, (name, _weight, argv) in enumerate(self.steps):
            self.step_index = index
            if self._cancel.is_set():
                return CANCELLED
            try:
                self._process = subprocess.Popen(
                    argv, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, encoding="utf-8", errors="replace",
                    creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
            except OSError as exc:
                self.error = RuntimeError(f"{name}: cannot start {argv[0]}: {exc}")
                return FAILED
            stderr = threading.Thread(target=self._read_stderr, args=(self._process,), daemon=True)
            stderr.start()
            for line in self._process.stdout:
                self.output.append(line.rstrip())
                self._note(line)
            code = self._process.wait()
            stderr.join()
            if self._cancel.is_set():
                return CANCELLED
            if code != 0:
                self.error = RuntimeError(f"{name} failed (status {code}): {self.last_line}")
                return FAILED
        self.step_index = len(self.steps)
        return DONE

    def _read_stderr(self, process):
        for line in process.stderr:
            self.log.append(line.rstrip())
            if line.strip():
                self.last_line = line.strip()

    def _note(self, line):
        self.log.append(line.rstrip())
        match = _DOWNLOAD.search(line)
        if match:
            self.downloaded_mb += float(match.group(1)) * _UNIT_MB[match.group(2)]
        if line.strip():
            self.last_line = line.strip()
