"""The job context every backend stage shares: throttled progress, one way to cancel."""
import time

import pytest

from backend.errors import Cancelled
from backend.job import JobContext


def test_progress_is_throttled_within_a_stage_but_keeps_each_stage_start_and_end():
    events = []
    job = JobContext(lambda *event: events.append(event), interval=10.0)
    for done in range(101):
        job.report("detect", done, 100)
    job.report("detect", 100, 100)   # a repeat
    for done in range(6):
        job.report("refine", done, 5)
    assert events == [("detect", 0, 100), ("detect", 100, 100), ("refine", 0, 5), ("refine", 5, 5)]


def test_progress_passes_again_once_the_interval_is_over():
    events = []
    job = JobContext(lambda *event: events.append(event), interval=0.05)
    job.report("detect", 1, 10)
    job.report("detect", 2, 10)
    time.sleep(0.06)
    job.report("detect", 3, 10)
    assert events == [("detect", 1, 10), ("detect", 3, 10)]


def test_check_raises_cancelled_after_cancel_and_while_a_stop_condition_holds():
    job = JobContext()
    job.check()
    failed = []
    with job.stopped_by(lambda: bool(failed)):
        job.check()
        failed.append(True)
        with pytest.raises(Cancelled):
            job.check()
    job.check()  # the condition only held inside the block
    job.cancel()
    assert job.cancelled
    with pytest.raises(Cancelled):
        job.check()
