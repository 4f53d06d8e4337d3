"""Does the camera move? The floor and the world frame assume a static camera; a panning,
tracking or hand-held camera would give a silently wrong floor, so it is detected first.

How: frames sampled over the clip at a small size; corners found on the background (the main
person's box masked out) are tracked into a frame a few frames later (pyramidal Lucas-Kanade) and
a homography is fitted (RANSAC, so other people and leaves are outliers). Chaining the
homographies gives where the image centre of the first frame has gone; a static camera keeps it
within a few pixels (compression noise, other people), a moving camera carries it away.
"""
import logging
from dataclasses import dataclass

import numpy as np

from . import video

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


def measure(video_path, frame_index, keypoints) -> CameraMotion:
    """Camera motion over the frames ``frame_index`` (source numbers, increasing) of a video whose
    main person's landmarks are ``keypoints`` (T, 33, 3) pixels + confidence."""
    import cv2

    frame_index = np.asarray(frame_index)
    starts = np.unique(np.linspace(0, max(len(frame_index) - GAP - 1, 0), MAX_PAIRS).round().astype(int))
    wanted = {int(frame_index[i]): i for i in starts} | {int(frame_index[min(i + GAP, len(frame_index) - 1)]): None
                                                         for i in starts}
    frames, scale = {}, 1.0
    first, last = int(frame_index[0]), int(frame_index[-1])
    for number, image in video.iter_frames(video_path, first, last + 1):
        if number in wanted:
            scale = ANALYSIS_WIDTH / image.shape[1]
            frames[number] = cv2.cvtColor(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
                                          cv2.COLOR_BGR2GRAY)
    width = None   # scale: source pixels -> analysis pixels (the same for every frame)
    centre_drift, position, pairs = 0.0, None, 0
    for i in starts:
        j = min(i + GAP, len(frame_index) - 1)
        a, b = frames.get(int(frame_index[i])), frames.get(int(frame_index[j]))
        if a is None or b is None or i == j:
            continue
        homography = _pair_homography(a, b, _person_mask(a.shape, keypoints[i], keypoints[j], scale))
        if homography is None:
            continue
        width = a.shape[1]
        pairs += 1
        # the steps between sampled pairs are not measured: scale each pair's motion to its share
        step = (starts[1] - starts[0]) / GAP if len(starts) > 1 else 1.0
        centre = np.array([a.shape[1] / 2, a.shape[0] / 2, 1.0])
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
