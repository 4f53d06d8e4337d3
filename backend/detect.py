"""MediaPipe Pose over a video: 33 landmarks per frame, in pixels, with their visibility.

Runs fully offline: ``model_complexity=1`` uses the two tflite models inside the
``mediapipe==0.10.21`` wheel (other complexities download models at run time, which fails).
One MediaPipe graph uses about one CPU core, so a range is split into contiguous chunks
detected in parallel threads (MediaPipe releases the GIL) and stitched so the output matches
one sequential pass (see ``_ChunkedDetection``); each chunk streams its frames. Whoever else
needs the decoded frames (``camera_motion.Thumbnails``) is offered them here: a video is decoded once.
MediaPipe Pose follows one person; choosing *which* person is ``backend.track``'s job.
"""
import os
import queue
import threading
from dataclasses import dataclass

import numpy as np

from backend import track, video
from backend.errors import BackendError
from backend.job import JobContext
from smplcore.protocol import SETUP_HINT
from smplcore.skeleton import NUM_LANDMARKS

# The detector configuration every consumer of landmarks (solver, noise model, benchmarks) sees.
POSE_OPTIONS = dict(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                    enable_segmentation=False, min_detection_confidence=0.5, min_tracking_confidence=0.5)
_MODEL_FILES = ("modules/pose_detection/pose_detection.tflite", "modules/pose_landmark/pose_landmark_full.tflite")
MIN_CHUNK_FRAMES = 40  # each chunk costs a graph start (~0.1 s) and a few frames of overlap


@dataclass
class Detections:
    frame_index: np.ndarray   # (T,) source frame numbers
    keypoints: np.ndarray     # (T, 33, 3) x, y in pixels + visibility; all zero where nobody was found
    world: np.ndarray         # (T, 33, 3) MediaPipe world landmarks, metres, hip-centred; zero where none
    found: np.ndarray         # (T,) bool, MediaPipe returned a pose
    image_size: tuple         # (width, height)
    fps: float
    appearance: np.ndarray | None = None  # (T, APPEARANCE_SIZE) torso colour histogram, zero where none
    time_ms: np.ndarray | None = None     # (T,) presentation time of each frame, NaN where unknown
    source_frame: np.ndarray | None = None  # (T,) decoded frame of each row when resampled to a constant rate

    @property
    def num_frames(self) -> int:
        return int(self.frame_index.shape[0])


def _import_mediapipe():
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise BackendError("missing_packages", f"MediaPipe cannot be imported: {exc}", SETUP_HINT) from exc
    root = os.path.dirname(mp.__file__)
    missing = [name for name in _MODEL_FILES if not os.path.isfile(os.path.join(root, name))]
    if missing:
        raise BackendError("missing_packages", f"MediaPipe {mp.__version__} lacks its pose models ({', '.join(missing)})",
                           "install mediapipe==0.10.21, the last release that ships them (pip install -r requirements.txt)")
    return mp


class PoseDetector:
    """One MediaPipe Pose graph in video (tracking) mode: feed frames in order."""

    def __init__(self, model_complexity=None):
        """``model_complexity``: MediaPipe's (1 full, 2 heavy); None: the pipeline's setting."""
        mp = _import_mediapipe()
        options = dict(POSE_OPTIONS)
        if model_complexity is not None:
            options["model_complexity"] = model_complexity
        self._pose = mp.solutions.pose.Pose(**options)

    def __call__(self, frame_bgr, with_presence=False):
        """``(pixels (33, 3), world (33, 3))`` for the person MediaPipe follows, or None;
        with ``with_presence`` also the landmarks' presence scores (33,)."""
        import cv2

        height, width = frame_bgr.shape[:2]
        output = self._pose.process(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
        if output.pose_landmarks is None:
            return None
        landmarks = output.pose_landmarks.landmark
        pixels = np.array([(p.x * width, p.y * height, p.visibility) for p in landmarks], dtype=np.float32)
        world = np.array([(p.x, p.y, p.z) for p in output.pose_world_landmarks.landmark], dtype=np.float32)
        if with_presence:
            return pixels, world, np.array([p.presence for p in landmarks], dtype=np.float32)
        return pixels, world

    def close(self):
        self._pose.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _chunks(first: int, stop: int, workers: int):
    count = max(1, min(workers, (stop - first) // MIN_CHUNK_FRAMES))
    size = -(-(stop - first) // count)
    return [(a, min(a + size, stop)) for a in range(first, stop, size)]


def prefetched(frames, depth=4):
    """Iterate ``frames`` with the decoding done ahead in a thread (OpenCV releases the GIL):
    a large frame takes a quarter of MediaPipe's time to decode, which then overlaps with
    detection instead of adding to it. Errors are raised here; closing the iterator stops it."""
    items, stop = queue.Queue(maxsize=depth), threading.Event()
    done = object()

    def put(item):
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def decode():
        try:
            for item in frames:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - raised in the consuming thread
            put(exc)
        finally:
            if hasattr(frames, "close"):
                frames.close()  # releases the capture in this thread, at once

    thread = threading.Thread(target=decode, name="decode", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def hidden(frame, boxes):
    """The frame with ``boxes`` (K, 4) x0, y0, x1, y1 pixels painted grey (rows of NaN: none),
    so that MediaPipe, which follows one person, finds someone else."""
    if boxes is None or not np.isfinite(boxes).any():
        return frame
    frame = frame.copy()
    height, width = frame.shape[:2]
    for x0, y0, x1, y1 in boxes[np.isfinite(boxes).all(axis=1)]:
        x0, x1 = (int(np.clip(v, 0, width)) for v in (x0, x1))
        y0, y1 = (int(np.clip(v, 0, height)) for v in (y0, y1))
        frame[y0:y1, x0:x1] = 127
    return frame


def detect_video(info: video.VideoInfo, first: int, stop: int | None, workers: int | None = None,
                 job: JobContext | None = None, hide=None, stage="detect", thumbnails=None) -> Detections:
    """Landmarks for frames ``first <= n < stop`` of the video (``stop`` None: to its end).

    Progress goes to ``job`` as ``stage`` from this thread, which checks for cancellation every
    50 ms. The result does not depend on ``workers`` beyond MediaPipe's own frame-to-frame
    smoothing (see :class:`_ChunkedDetection`).
    ``hide`` (T, K, 4): per frame, boxes of people already found, painted over (see ``hidden``).
    ``thumbnails``: offered every decoded frame (``camera_motion.Thumbnails``), or None.
    """
    job = job or JobContext()
    if stop is None:  # length unknown: one streaming pass, arrays grown as frames arrive
        return _detect_unknown_length(info, first, job, stage, thumbnails)
    chunks = _ChunkedDetection(info, first, stop, workers or default_workers(), hide, thumbnails)
    chunks.start()
    try:
        while chunks.running():
            job.check()
            job.report(stage, chunks.done, stop - first)
            chunks.wait(0.05)
    finally:
        chunks.stop()
    if chunks.failures:
        raise chunks.failures[0]
    job.report(stage, chunks.done, stop - first)
    if not chunks.decoded.any():
        raise BackendError("unreadable_video", f"no frame in the range {first}..{stop - 1} could be decoded",
                           "check the frame range and that the file plays in a video player")
    # a truncated file ends early: keep what was decoded, frames lost mid-file count as not found
    keep = slice(0, int(np.flatnonzero(chunks.decoded)[-1]) + 1)
    return Detections(frame_index=np.arange(first, stop, dtype=np.int64)[keep], keypoints=chunks.keypoints[keep],
                      world=chunks.world[keep], found=chunks.found[keep], image_size=info.image_size, fps=info.fps,
                      appearance=chunks.appearance[keep], time_ms=chunks.time_ms[keep])


class _ChunkedDetection:
    """Contiguous chunks detected in parallel, stitched so the output matches one sequential pass.

    A fresh MediaPipe graph at a chunk start may lock onto a different person than the graph
    that tracked the frames before it. So a worker does not stop at its chunk's end: it goes on
    over the next chunk, overwriting it, until its detections agree with what is stored there
    for ``AGREE_FRAMES`` frames in a row (both trackers then follow the same person). Rows are
    owned by the lowest-numbered worker that reached them; a worker that meets a row owned by an
    earlier worker stops, since that worker's tracking is the sequential one.
    """

    AGREE_FRAMES = 5
    AGREE_DISTANCE = 0.1  # mean landmark distance, in body scales, for "the same person"

    def __init__(self, info, first, stop, workers, hide=None, thumbnails=None):
        self.info, self.first, self.stop_frame = info, first, stop
        total = stop - first
        self.hide, self.thumbnails = hide, thumbnails
        self.appearance = np.zeros((total, track.APPEARANCE_SIZE), np.float32)
        self.time_ms = np.full(total, np.nan)
        self.keypoints = np.zeros((total, NUM_LANDMARKS, 3), np.float32)
        self.world = np.zeros((total, NUM_LANDMARKS, 3), np.float32)
        self.found = np.zeros(total, bool)
        self.decoded = np.zeros(total, bool)
        self.owner = np.full(total, -1, np.int32)
        self.done = 0
        self.failures = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._detect_from, args=(k, a, b), name=f"detect-{k}", daemon=True)
                         for k, (a, b) in enumerate(_chunks(first, stop, workers))]

    def start(self):
        for thread in self._threads:
            thread.start()

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def wait(self, seconds):
        """Until a worker still running ends, or ``seconds`` pass. (Waiting on the first worker
        only returned at once after it ended: the caller then spun, taking a core from the
        workers still detecting.)"""
        alive = next((thread for thread in self._threads if thread.is_alive()), None)
        if alive is not None:
            alive.join(seconds)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _timed(self, frame_number, milliseconds):
        self.time_ms[frame_number - self.first] = milliseconds

    def _agrees(self, row, landmarks) -> bool:
        if landmarks is None or not self.found[row]:
            return landmarks is None and not self.found[row]
        _, scale = track.body_centre_and_scale(landmarks[0][None])
        distance = np.linalg.norm(landmarks[0][:, :2] - self.keypoints[row, :, :2], axis=-1).mean()
        return distance < self.AGREE_DISTANCE * scale[0]

    def _detect_from(self, worker, chunk_first, chunk_stop):
        try:
            agreeing = 0
            with PoseDetector() as detector:
                frames = video.iter_frames(self.info.path, chunk_first, self.stop_frame, on_time=self._timed)
                for frame_number, frame in prefetched(frames):
                    if self._stop.is_set():
                        return
                    row = frame_number - self.first
                    if self.thumbnails is not None:
                        self.thumbnails.offer(frame_number, frame)
                    landmarks = detector(hidden(frame, None if self.hide is None else self.hide[row]))
                    colours = track.appearance(frame, landmarks[0]) if landmarks is not None else 0.0
                    with self._lock:
                        owner = int(self.owner[row])
                        if 0 <= owner < worker:
                            return
                        if frame_number >= chunk_stop:  # past our chunk: stitching
                            agreeing = agreeing + 1 if owner >= 0 and self._agrees(row, landmarks) else 0
                        self.done += owner < 0
                        self.owner[row], self.decoded[row] = worker, True
                        self.found[row] = landmarks is not None
                        self.keypoints[row], self.world[row] = landmarks if landmarks is not None else (0.0, 0.0)
                        self.appearance[row] = colours
                    if agreeing >= self.AGREE_FRAMES:
                        return
        except BaseException as exc:  # handed to the calling thread, which re-raises it
            self.failures.append(exc)
            self._stop.set()


def _detect_unknown_length(info, first, job, stage, thumbnails=None) -> Detections:
    frames, keypoints, world, found, colours, times = [], [], [], [], [], {}
    empty = np.zeros((NUM_LANDMARKS, 3), np.float32)
    with PoseDetector() as detector:
        for frame_number, frame in prefetched(video.iter_frames(info.path, first, None, on_time=times.__setitem__)):
            job.check()
            if thumbnails is not None:
                thumbnails.offer(frame_number, frame)
            landmarks = detector(frame)
            frames.append(frame_number)
            found.append(landmarks is not None)
            keypoints.append(landmarks[0] if landmarks is not None else empty)
            world.append(landmarks[1] if landmarks is not None else empty)
            colours.append(track.appearance(frame, landmarks[0]) if landmarks is not None
                           else np.zeros(track.APPEARANCE_SIZE, np.float32))
            job.report(stage, len(frames), 0)
    if not frames:
        raise BackendError("unreadable_video", f"no frame from {first} on could be decoded",
                           "check the start frame and that the file plays in a video player")
    return Detections(frame_index=np.asarray(frames, np.int64), keypoints=np.stack(keypoints),
                      world=np.stack(world), found=np.asarray(found), image_size=info.image_size, fps=info.fps,
                      appearance=np.stack(colours), time_ms=np.array([times.get(n, np.nan) for n in frames]))
