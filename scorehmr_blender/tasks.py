"""Long-running work the sidebar shows: a status line, a progress bar and a Cancel button.

A task is stepped without blocking (a modal operator's timer, or a ``bpy.app.timers``
callback) or waited on (blocking mode for ``blender -b`` and scripts). One task runs at a time.
"""
import collections
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


class JobTask:
    """A backend job (run / refine) seen as a task."""

    def __init__(self, label, job):
        self.label, self.job = label, job

    @property
    def state(self):
        return self.job.poll()

    @property
    def progress(self):
        return self.job.progress

    @property
    def status(self):
        job = self.job
        if job.state == FAILED:
            return str(job.error)
        count = f" {job.done_count}/{job.total}" if job.total else ""
        return f"{self.label}: {job.stage}{count}"

    @property
    def error(self):
        return self.job.error

    def cancel(self):
        self.job.cancel()

    def wait(self, on_update=None):
        return self.job.wait(on_update=on_update and (lambda _job: on_update(self)))


class CommandTask:
    """A sequence of subprocess commands run in a thread (backend venv setup, doctor).

    ``steps`` are (label, argv) pairs; the last output line of the running step is the status.
    """

    def __init__(self, label, steps, cwd=None, env=None):
        self.label, self.steps, self.cwd, self.env = label, list(steps), cwd, env
        self._state = RUNNING
        self.step_index = 0
        self.last_line = ""
        self.output = collections.deque(maxlen=400)
        self.error = None
        self._process = None
        self._cancel = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    @property
    def state(self):
        return self._state

    @property
    def progress(self):
        return self.step_index / len(self.steps) if self.steps else None

    @property
    def status(self):
        if self._state == FAILED:
            return str(self.error)
        name = self.steps[min(self.step_index, len(self.steps) - 1)][0] if self.steps else ""
        return f"{self.label}: {name} {self.last_line[:60]}".rstrip()

    @property
    def stdout(self):
        return "\n".join(self.output)

    def cancel(self):
        self._cancel.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
        if self._state == RUNNING:
            self._state = CANCELLED

    def wait(self, on_update=None):
        while self._state == RUNNING:
            if on_update:
                on_update(self)
            time.sleep(0.1)
        return self._state

    def _run(self):
        for index, (name, argv) in enumerate(self.steps):
            self.step_index = index
            if self._cancel.is_set():
                return
            try:
                self._process = subprocess.Popen(
                    argv, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True, encoding="utf-8", errors="replace")
            except OSError as exc:
                self.error, self._state = RuntimeError(f"{name}: cannot start {argv[0]}: {exc}"), FAILED
                return
            for line in self._process.stdout:
                self.output.append(line.rstrip())
                if line.strip():
                    self.last_line = line.strip()
            code = self._process.wait()
            if self._cancel.is_set():
                return
            if code != 0:
                self.error = RuntimeError(f"{name} failed (status {code}): {self.last_line}")
                self._state = FAILED
                return
        self.step_index = len(self.steps)
        self._state = DONE
