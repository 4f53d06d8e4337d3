"""Reading videos with OpenCV: probing, frame ranges, and streaming frames one at a time.

Frames are never all held in memory: a one-hour 1080p video is ~600 GB of raw pixels.
Every way a file can fail to be a video (missing, empty, not a video, nothing decodable)
becomes ``BackendError("unreadable_video")`` with a hint.
"""
import logging
import math
import os
from dataclasses import dataclass

import numpy as np

from backend.errors import BackendError

log = logging.getLogger(__name__)

FALLBACK_FPS = 30.0  # for containers that do not state a frame rate
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".mts", ".m2ts")
_HINT = "check that the file plays in a video player; re-export it as H.264 .mp4 if it does not"


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float
    frame_count: int   # as stated by the container; decoding may yield fewer (truncated files)
    width: int         # as displayed (rotation metadata applied)
    height: int
    rotation: int = 0  # degrees of rotation metadata that were applied

    @property
    def image_size(self) -> tuple[int, int]:
        return self.width, self.height


def _open_capture(path: str):
    import cv2

    if not os.path.exists(path):
        raise BackendError("unreadable_video", f"video not found: {path}", "check the path")
    if not os.path.isfile(path):
        raise BackendError("unreadable_video", f"not a file: {path}", "give the path of a video file")
    if os.path.getsize(path) == 0:
        raise BackendError("unreadable_video", f"the video file is empty (0 bytes): {path}", _HINT)
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise BackendError("unreadable_video", f"OpenCV cannot open {os.path.basename(path)} as a video "
                           "(not a video, or a format it does not know)", _HINT)
    # phones store portrait video sideways with a rotation tag: decode frames as displayed
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def probe(path) -> VideoInfo:
    """Open the video, decode its first frame, and report its size, frame rate and length."""
    import cv2

    path = os.fspath(path)
    capture = _open_capture(path)
    try:
        ok, frame = capture.read()
        if not ok or frame is None:
            raise BackendError("unreadable_video", f"no frame of {os.path.basename(path)} can be decoded "
                               "(the file is corrupt or its codec is not supported)", _HINT)
        height, width = frame.shape[:2]
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not (math.isfinite(fps) and fps > 0):
            log.warning("%s states no frame rate; assuming %.0f fps", path, FALLBACK_FPS)
            fps = FALLBACK_FPS
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if math.isfinite(count) and count > 0 else 0
        rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        if rotation:
            log.info("%s: rotation metadata %d degrees applied; frames are %dx%d as displayed",
                     path, rotation, width, height)
        return VideoInfo(path=path, fps=float(fps), frame_count=count, width=int(width), height=int(height),
                         rotation=rotation)
    finally:
        capture.release()


def frame_range(info: VideoInfo, start=None, end=None) -> tuple[int, int | None]:
    """``[start, end]`` (inclusive, source frame numbers) as ``(first, stop)``, stop exclusive.

    ``stop`` is None for "to the end" when the container states no frame count.
    """
    first = 0 if start is None else int(start)
    if first < 0:
        raise BackendError("bad_request", f"start frame {first} is negative", "frames are numbered from 0")
    if info.frame_count and first >= info.frame_count:
        raise BackendError("bad_request", f"start frame {first} is past the end of the video "
                           f"({info.frame_count} frames)", f"use a start frame below {info.frame_count}")
    if end is None:
        return first, info.frame_count or None
    stop = int(end) + 1
    if stop <= first:
        raise BackendError("bad_request", f"end frame {end} is before start frame {first}",
                           "give --end at or after --start")
    if info.frame_count:
        stop = min(stop, info.frame_count)
    return first, stop


def iter_frames(path, first: int = 0, stop: int | None = None, on_time=None):
    """Yield ``(frame_number, BGR uint8 image)`` for frames ``first <= n < stop``, one at a time,
    as displayed (rotation metadata applied). ``on_time(frame_number, milliseconds)`` receives
    each frame's presentation time (for variable-frame-rate clips, see ``constant_rate``).

    A file that ends early (truncated recording) stops the stream with a warning; the caller
    decides whether the frames it got are enough.
    """
    import cv2

    capture = _open_capture(os.fspath(path))
    try:
        index = 0
        if first > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, first)
            index = int(capture.get(cv2.CAP_PROP_POS_FRAMES))
            if index != first:  # containers without an index: reopen and skip frame by frame
                capture.release()
                capture = _open_capture(os.fspath(path))
                index = 0
            while index < first and capture.grab():
                index += 1
        while stop is None or index < stop:
            ok, frame = capture.read()
            if not ok:
                if stop is not None:
                    log.warning("%s: decoding stopped at frame %d, before the expected frame %d "
                                "(truncated or corrupt file)", path, index, stop)
                return
            if on_time is not None:
                on_time(index, capture.get(cv2.CAP_PROP_POS_MSEC))
            yield index, frame
            index += 1
    finally:
        capture.release()


VFR_TOLERANCE = 0.25  # a frame interval this far from the nominal one (fraction) counts as irregular


def nominal_rate(time_ms) -> float | None:
    """The clip's base frame rate from its presentation times: the rate of its shortest regular
    interval (ffmpeg's r_frame_rate, which Blender's movie clip uses; OpenCV reports the average)."""
    steps = np.diff(np.asarray(time_ms, np.float64))
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if len(steps) == 0:
        return None
    return round(1000.0 / float(np.percentile(steps, 5)), 3)


def constant_rate(time_ms, fps: float | None = None):
    """For a clip whose frames are not evenly timed: ``(rows, grid, fps)`` picking, for each frame
    of a constant-rate grid over the clip, the row of the frame on screen at that time (the last one
    presented by half a grid frame after it), the grid's frame numbers and its rate (``fps``, or
    the clip's nominal rate). None when the timing is regular (every interval within VFR_TOLERANCE
    of one frame) or unknown."""
    time_ms = np.asarray(time_ms, np.float64)
    if len(time_ms) < 2 or not np.all(np.isfinite(time_ms)):
        return None
    fps = fps or nominal_rate(time_ms)
    step = 1000.0 / fps
    if np.all(np.abs(np.diff(time_ms) - step) <= VFR_TOLERANCE * step):
        return None
    first = int(round(time_ms[0] / step))
    grid = np.arange(first, int(round(time_ms[-1] / step)) + 1)
    rows = np.searchsorted(time_ms, grid * step + 0.5 * step, side="right") - 1
    return np.clip(rows, 0, len(time_ms) - 1), grid, fps
