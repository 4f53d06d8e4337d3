"""MediaPipe's hand landmark model on the tracked person's two hands: 21 landmarks per hand.

The pose already says where each wrist is, so no palm detector runs: each hand's crop comes
from the pose's wrist, index and pinky landmarks (as MediaPipe Holistic does), or, while a hand
keeps being found, from that hand's own landmarks in the previous frame (as MediaPipe Hands
tracks). The model is the ``hand_landmark_full.tflite`` inside the ``mediapipe==0.10.21``
wheel, run through its ``HandLandmarkCpu`` graph; nothing is downloaded.

A hand counts as found only when the model's hand presence passes its own gate, the model's
handedness agrees with the body side the crop belongs to, and the found wrist lies near the
pose's wrist: frames without a hand are marked, never invented. MediaPipe gives no per-landmark
visibility for hands: a landmark's confidence is the probability of the expected side, zero
outside the image.
"""
import math
import threading
from dataclasses import dataclass

import numpy as np

from backend import video
from backend.job import JobContext
from smplcore.skeleton import LANDMARK_INDEX

HAND_LANDMARK_NAMES = (
    "wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_mcp", "index_pip", "index_dip",
    "index_tip", "middle_mcp", "middle_pip", "middle_dip", "middle_tip", "ring_mcp", "ring_pip", "ring_dip",
    "ring_tip", "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)
NUM_HAND_LANDMARKS = len(HAND_LANDMARK_NAMES)
SIDES = ("left", "right")
# MediaPipe labels handedness as seen in a mirrored (selfie) image: the body's left hand in an
# ordinary video is labelled "Right"
_EXPECTED_LABEL = {"left": "Right", "right": "Left"}
MIN_SIDE_PROBABILITY = 0.5
MAX_WRIST_OFFSET = 1.0    # found wrist to pose wrist, in units of the pose's wrist-to-knuckles length
WARMUP_FRAMES = 5         # frames a later part of the video tracks before its own first frame
_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "landmarks"
output_stream: "world_landmarks"
output_stream: "handedness"
node {
  calculator: "HandLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "WORLD_LANDMARKS:world_landmarks"
  output_stream: "HANDEDNESS:handedness"
}
"""


@dataclass
class HandDetections:
    keypoints: np.ndarray   # (T, 2, 21, 3) left, right: x, y pixels + confidence; zero where not found
    depth: np.ndarray       # (T, 2, 21) MediaPipe's relative depth, pixels, wrist = 0 (larger = farther)
    world: np.ndarray       # (T, 2, 21, 3) MediaPipe hand world landmarks, metres (x right, y down)
    found: np.ndarray       # (T, 2) bool

    def rows(self, rows) -> "HandDetections":
        return HandDetections(self.keypoints[rows], self.depth[rows], self.world[rows], self.found[rows])

    @classmethod
    def empty(cls, frames):
        return cls(np.zeros((frames, 2, NUM_HAND_LANDMARKS, 3), np.float32),
                   np.zeros((frames, 2, NUM_HAND_LANDMARKS), np.float32),
                   np.zeros((frames, 2, NUM_HAND_LANDMARKS, 3), np.float32), np.zeros((frames, 2), bool))


@dataclass
class HandCrop:
    """A rotated square in pixels; ``rotation`` turns the wrist->fingers direction upwards."""
    cx: float
    cy: float
    size: float
    rotation: float
    reach: float            # wrist-to-knuckles length, pixels (the scale of the wrist check)


def _rotation_up(x0, y0, x1, y1):
    """MediaPipe's ROI rotation (radians) that puts (x1, y1) straight above (x0, y0)."""
    angle = math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0)
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def crop_from_pose(pose, side) -> HandCrop | None:
    """Hand crop from the pose's wrist, index and pinky landmarks (pixels (33, 3))."""
    wrist = pose[LANDMARK_INDEX[f"{side}_wrist"], :2]
    knuckles = 0.5 * (pose[LANDMARK_INDEX[f"{side}_index"], :2] + pose[LANDMARK_INDEX[f"{side}_pinky"], :2])
    shoulders = 0.5 * (pose[LANDMARK_INDEX["left_shoulder"], :2] + pose[LANDMARK_INDEX["right_shoulder"], :2])
    hips = 0.5 * (pose[LANDMARK_INDEX["left_hip"], :2] + pose[LANDMARK_INDEX["right_hip"], :2])
    # the pose's hand landmarks are noisy and often collapse onto the wrist: the hand is at
    # least ~0.15 torso lengths from wrist to knuckles
    reach = max(float(np.linalg.norm(knuckles - wrist)), 0.15 * float(np.linalg.norm(shoulders - hips)))
    if not reach > 1.0:
        return None
    d = knuckles - wrist
    d = d / np.linalg.norm(d) if np.linalg.norm(d) > 1e-6 else np.array([0.0, 1.0])  # hanging down
    centre = wrist + 1.1 * reach * d
    return HandCrop(float(centre[0]), float(centre[1]), 3.4 * reach, _rotation_up(*wrist, *(wrist + d)), reach)


def crop_from_hand(landmarks) -> HandCrop:
    """Crop around a hand found in the previous frame (pixels (21, 2+)), as MediaPipe tracks."""
    pts = landmarks[:, :2]
    rotation = _rotation_up(*pts[0], *pts[9])  # wrist -> middle knuckle up
    c, s = math.cos(rotation), math.sin(rotation)
    local = pts @ np.array([[c, -s], [s, c]])  # into the crop's upright frame
    lo, hi = local.min(0), local.max(0)
    centre = 0.5 * (lo + hi) @ np.array([[c, s], [-s, c]])
    reach = float(np.linalg.norm(pts[9] - pts[0]))
    return HandCrop(float(centre[0]), float(centre[1]), 1.6 * float(max(hi - lo)), rotation, reach)


class HandLandmarker:
    """One MediaPipe hand landmark graph: a frame and a crop in, one hand's landmarks out."""

    def __init__(self, complexity=1):
        from mediapipe.python.solution_base import SolutionBase

        from backend.detect import _import_mediapipe

        _import_mediapipe()
        self._graph = SolutionBase(graph_config=_GRAPH, side_inputs={"model_complexity": complexity},
                                   outputs=["landmarks", "world_landmarks", "handedness"])

    def __call__(self, frame_rgb, crop: HandCrop, side):
        """``(pixels (21, 3) x, y, conf; depth (21,); world (21, 3))`` or None."""
        from mediapipe.framework.formats import rect_pb2

        height, width = frame_rgb.shape[:2]
        roi = rect_pb2.NormalizedRect(x_center=crop.cx / width, y_center=crop.cy / height, width=crop.size / width,
                                      height=crop.size / height, rotation=crop.rotation)
        out = self._graph.process({"image": frame_rgb, "roi": roi})
        if out.landmarks is None or out.handedness is None:
            return None
        best = out.handedness.classification[0]
        p_side = best.score if best.label == _EXPECTED_LABEL[side] else 1.0 - best.score
        if p_side < MIN_SIDE_PROBABILITY:
            return None
        lm = np.array([(p.x * width, p.y * height, p.z * width) for p in out.landmarks.landmark], np.float32)
        inside = (lm[:, 0] >= 0) & (lm[:, 0] < width) & (lm[:, 1] >= 0) & (lm[:, 1] < height)
        pixels = np.concatenate([lm[:, :2], (p_side * inside)[:, None]], 1).astype(np.float32)
        world = np.array([(p.x, p.y, p.z) for p in out.world_landmarks.landmark], np.float32)
        return pixels, lm[:, 2] - lm[0, 2], world

    def close(self):
        self._graph.close()


def _track_side(detector, frame_rgb, pose, side, previous):
    """One hand in one frame: the previous frame's hand crop first, else the pose's crop."""
    from_pose = crop_from_pose(pose, side)
    if from_pose is None:
        return None
    wrist = pose[LANDMARK_INDEX[f"{side}_wrist"], :2]
    crops = ([crop_from_hand(previous[0])] if previous is not None else []) + [from_pose]
    for crop in crops:
        found = detector(frame_rgb, crop, side)
        if found is not None and np.linalg.norm(found[0][0, :2] - wrist) <= MAX_WRIST_OFFSET * from_pose.reach:
            return found
    return None


def detect_hands(info: video.VideoInfo, frame_index, keypoints, valid, complexity=1,
                 job: JobContext | None = None, workers=None) -> HandDetections:
    """Both hands of the tracked person on every valid row (``keypoints`` (T, 33, 3) pixels);
    ``frame_index`` (T,) the video frame each row was detected on (a resampled variable-rate
    clip repeats some: such rows share one detection).

    The decoded frames are split into ``workers`` contiguous parts (default: one per core, at
    most 2), each detected in a thread with its own decoder and hand model: beside the body solve,
    which runs meanwhile on one core, the hands then use what the other core leaves. A later part
    starts tracking WARMUP_FRAMES frames early, so that its hands follow on as one pass would.
    Progress goes to ``job`` as stage "hands", from the calling thread."""
    from backend.detect import default_workers

    job = job or JobContext()
    frame_index = np.asarray(frame_index)
    out = HandDetections.empty(len(frame_index))
    rows = {}
    for r, f in enumerate(frame_index):
        rows.setdefault(int(f), []).append(r)
    numbers = sorted(rows)
    parts = [part for part in np.array_split(np.arange(len(numbers)), min(workers or default_workers(), 2)) if len(part)]
    progress = {"done": 0, "failures": []}
    lock, stop = threading.Lock(), threading.Event()

    def work(part):
        try:
            warm = numbers[max(int(part[0]) - WARMUP_FRAMES, 0):int(part[0])]
            _detect_range(info, warm, numbers[int(part[0]):int(part[-1]) + 1], rows, keypoints, valid, complexity,
                          out, job, progress, lock, stop)
        except BaseException as exc:  # noqa: BLE001 - raised in the calling thread
            progress["failures"].append(exc)
            stop.set()

    threads = [threading.Thread(target=work, args=(part,), name=f"hands-{k}", daemon=True)
               for k, part in enumerate(parts)]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads):
            job.report("hands", progress["done"], len(frame_index))
            stop.wait(0.05)
    finally:
        stop.set()  # the parts still running (a failure, or this thread interrupted) end now
        for thread in threads:
            thread.join()
    if progress["failures"]:
        raise progress["failures"][0]
    job.report("hands", progress["done"], len(frame_index))
    return out


def _detect_range(info, warm, numbers, rows, keypoints, valid, complexity, out, job, progress, lock, stop):
    """Hands on the decoded frames ``numbers`` (increasing), tracking from the ``warm`` frames
    before them (detected, not stored); rows of one frame share its detection."""
    import cv2

    from backend.detect import prefetched

    store = set(numbers)
    previous = [None, None]   # each hand in the last frame (None: not found there)
    detector = HandLandmarker(complexity)
    try:
        first = warm[0] if len(warm) else numbers[0]
        frames = video.iter_frames(info.path, int(first), int(numbers[-1]) + 1)
        for number, frame in prefetched(frames):
            job.check()
            if stop.is_set():
                return
            same = rows.get(number, ())
            if not same:
                continue
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if valid[same[0]] else None
            for h, side in enumerate(SIDES):
                found = previous[h] = None if rgb is None else _track_side(detector, rgb, keypoints[same[0]], side,
                                                                           previous[h])
                if found is not None and number in store:
                    for r in same:
                        out.keypoints[r, h], out.depth[r, h], out.world[r, h] = found
                        out.found[r, h] = True
            if number in store:
                with lock:
                    progress["done"] += len(same)
    finally:
        detector.close()
