"""One job's progress and cancellation, passed down every stage of the backend.

``report(stage, done, total)`` tells whoever listens (the serve protocol, the CLI's progress
bars, a benchmark) how far the job is, throttled here and nowhere else. ``check()`` raises
:class:`Cancelled` once the job is cancelled: the one cancel convention of every stage (none
returns None or a partial result instead).
"""
import contextlib
import threading
import time

from backend.errors import Cancelled

PROGRESS_INTERVAL_S = 0.1   # at most ten progress events a second within a stage


class JobContext:
    def __init__(self, listener=None, interval=PROGRESS_INTERVAL_S):
        """``listener(stage, done, total)`` receives the progress events (None: nobody listens)."""
        self._listener = listener
        self._interval = interval
        self._cancelled = threading.Event()
        self._stop_conditions = ()
        self._last, self._last_time = None, 0.0

    def report(self, stage: str, done, total):
        """Progress of ``stage``; repeats and events closer than ``interval`` within a stage are
        dropped, except a stage's first and its completion (done == total)."""
        if self._listener is None:
            return
        event = (stage, int(done), int(total))
        now = time.monotonic()
        if event == self._last or (self._last is not None and stage == self._last[0] and event[1] != event[2]
                                   and now - self._last_time < self._interval):
            return
        self._last, self._last_time = event, now
        self._listener(*event)

    def cancel(self):
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set() or any(condition() for condition in self._stop_conditions)

    def check(self):
        """Raise :class:`Cancelled` when the job should stop."""
        if self.cancelled:
            raise Cancelled()

    @contextlib.contextmanager
    def stopped_by(self, condition):
        """Inside the block the job also stops (as cancelled) once ``condition()`` is true, e.g.
        detection stops at once when the models loading beside it failed."""
        self._stop_conditions += (condition,)
        try:
            yield self
        finally:
            self._stop_conditions = self._stop_conditions[:-1]
