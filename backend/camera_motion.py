"""Does the camera move? The floor and the world frame assume a static camera; a panning,
tracking or hand-held camera would give a silently wrong floor, so it is detected first.

How: pairs of frames ``GAP`` apart, sampled over the clip, are kept small and grey while
detection decodes the video anyway (``Thumbnails``: no second decoding pass). Corners found on
the background (the main person's box masked out) are tracked into the later frame of each pair
(pyramidal Lucas-Kanade) and a homography is fitted (RANSAC, so other people and leaves are
outliers). Chaining the homographies gives where the image centre of the first frame has gone;
a static camera keeps it within a few pixels (compression noise, other people), a moving camera
carries it away.
"""
import logging
import math
import threading
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

ANALYSIS_WIDTH = 320     # px: frames are analysed at this width
GAP = 4                  # frames between the two images of a pair
MAX_PAIRS = 40           # pairs sampled over the clip
MOVING_DRIFT = 0.02      # fraction of the image width the view drifts by at most on a static camera
MIN_TRACKS = 12          # background tracks a pair needs to count


@dataclass
class CameraMotion:
    moving: bool
    drift: float         # largest displacement of the first frame's centre, fraction of the width
    pairs: int           # frame pairs that could be measured

    def describe(self) -> str:
        return (f"the camera moves (the background drifts by {100 * self.drift:.0f} % of the image width)"
                if self.moving else f"static camera (background drift {100 * self.drift:.1f} % of the width)")


class Thumbnails:
    """The frames the measurement needs, small and grey, taken from a decoding pass (``offer``
    every decoded frame, from any thread, in any order). Pairs start every ``stride`` frames
    from ``first``; with ``count`` unknown the stride doubles whenever more than twice
    ``MAX_PAIRS`` pairs are held, so memory stays bounded on any length."""

    def __init__(self, first: int, count: int | None = None):
        self.first = first
        # pairs chain end to start at the least (stride GAP): every frame step is measured once
        self.stride = max(GAP, math.ceil((count - GAP) / MAX_PAIRS)) if count else GAP
        self.scale = None   # source pixels -> analysis pixels
        self.images: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def wanted(self, frame_number: int) -> bool:
        offset = frame_number - self.first
        return offset % self.stride == 0 or (offset >= GAP and (offset - GAP) % self.stride == 0)

    def offer(self, frame_number: int, image):
        if not self.wanted(frame_number) or frame_number in self.images:
            return
        import cv2

        scale = ANALYSIS_WIDTH / image.shape[1]
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)   # first: resizing one channel is 3x cheaper
        small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        with self._lock:
            self.scale = scale
            self.images[frame_number] = small
            if len(self.images) > 4 * MAX_PAIRS:   # (a doubling from GAP to 2 GAP drops nothing; the next one does)
                self.stride *= 2
                self.images = {n: im for n, im in self.images.items() if self.wanted(n)}

    def pairs(self):
        """(frame a, frame a + GAP) of every pair both of whose frames are held, in order."""
        return [(n, n + GAP) for n in sorted(self.images)
                if (n - self.first) % self.stride == 0 and n + GAP in self.images]


def measure(thumbnails: Thumbnails, keypoints: dict) -> CameraMotion:
    """Camera motion from the ``thumbnails`` of one decoding pass; ``keypoints``: the main
    person's landmarks (33, 3) pixels + confidence by source frame number, where known."""
    centre_drift, position, pairs, width = 0.0, None, 0, None
    step = thumbnails.stride / GAP   # the steps between pairs are not measured: each pair stands for its share
    nobody = np.zeros((33, 3), np.float32)
    for a, b in thumbnails.pairs():
        first, second = thumbnails.images[a], thumbnails.images[b]
        mask = _person_mask(first.shape, keypoints.get(a, nobody), keypoints.get(b, nobody), thumbnails.scale)
        homography = _pair_homography(first, second, mask)
        if homography is None:
            continue
        width = first.shape[1]
        pairs += 1
        centre = np.array([first.shape[1] / 2, first.shape[0] / 2, 1.0])
        moved = homography @ centre
        shift = (moved[:2] / moved[2] - centre[:2]) * step
        position = shift if position is None else position + shift
        centre_drift = max(centre_drift, float(np.linalg.norm(position)))
    drift = centre_drift / width if width else 0.0
    result = CameraMotion(moving=drift > MOVING_DRIFT, drift=drift, pairs=pairs)
    log.info("%s (%d frame pairs)", result.describe(), pairs)
    return result


def _person_mask(shape, kp_a, kp_b, scale, margin=0.25):
    """255 on the background, 0 on the person's box in either frame (grown by ``margin``)."""
    mask = np.full(shape, 255, np.uint8)
    for kp in (kp_a, kp_b):
        seen = kp[:, 2] > 0.3
        if seen.sum() < 3:
            continue
        lo, hi = kp[seen, :2].min(0) * scale, kp[seen, :2].max(0) * scale
        grow = (hi - lo) * margin
        x0, y0 = np.maximum((lo - grow).astype(int), 0)
        x1, y1 = (hi + grow).astype(int)
        mask[y0:y1 + 1, x0:x1 + 1] = 0
    return mask


def _pair_homography(a, b, mask):
    import cv2

    corners = cv2.goodFeaturesToTrack(a, maxCorners=300, qualityLevel=0.01, minDistance=6, mask=mask)
    if corners is None or len(corners) < MIN_TRACKS:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(a, b, corners, None, winSize=(21, 21), maxLevel=3)
    ok = status.ravel() == 1
    if ok.sum() < MIN_TRACKS:
        return None
    homography, inliers = cv2.findHomography(corners[ok], moved[ok], cv2.RANSAC, 2.0)
    if homography is None or inliers.sum() < MIN_TRACKS:
        return None
    return homography
