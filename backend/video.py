"""Reading videos with OpenCV: probing, frame ranges, and streaming frames one at a time.

Frames are never all held in memory: a one-hour 1080p video is ~600 GB of raw pixels.
Every way a file can fail to be a video (missing, empty, not a video, nothing decodable)
becomes ``BackendError("unreadable_video")`` with a hint.
"""
import logging
import math
import os
from dataclasses import dataclass

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
    width: int
    height: int

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
        return VideoInfo(path=path, fps=float(fps), frame_count=count, width=int(width), height=int(height))
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


def iter_frames(path, first: int = 0, stop: int | None = None):
    """Yield ``(frame_number, BGR uint8 image)`` for frames ``first <= n < stop``, one at a time.

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
            yield index, frame
            index += 1
    finally:
        capture.release()
