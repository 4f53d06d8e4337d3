"""Pick the main person out of single-person detections, and keep only their frames.

MediaPipe Pose follows whoever it found first; when it loses them it re-detects and may
lock onto someone else (a passer-by), so its output is a sequence of *tracklets*, each one
person. We split the detections where the body jumps (position or size inconsistent with
the previous frame), link tracklets that one person could plausibly have joined across a gap,
and keep the chain with the most visible landmarks. Frames outside that chain are marked
invalid (confidence 0): nothing is invented, the solver bridges them.
"""
from dataclasses import dataclass

import numpy as np

from smplcore.skeleton import LANDMARK_INDEX

_TORSO = [LANDMARK_INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]

MAX_STEP = 1.0          # body scales the body centre may move between consecutive frames
MAX_SPEED = 4.0         # body scales per second a person may travel while undetected (walking ~3)
MAX_GAP_SECONDS = 2.0   # longer losses start a new person: re-identification by position is guesswork
MAX_SCALE_RATIO = 1.5   # size change allowed between consecutive frames ...
SCALE_RATIO_PER_SECOND = 0.5  # ... plus this much per second of gap (walking towards the camera)


@dataclass
class Tracklet:
    first: int   # row of its first frame
    last: int    # row of its last frame (inclusive)
    score: float  # summed mean visibility: how much of this person was seen


def body_centre_and_scale(keypoints: np.ndarray):
    """Per frame: the torso centre (pixels) and a body size that survives bending and turning."""
    xy = keypoints[..., :2]
    centre = xy[:, _TORSO].mean(axis=1)
    torso = np.linalg.norm(xy[:, _TORSO[:2]].mean(axis=1) - xy[:, _TORSO[2:]].mean(axis=1), axis=-1)
    extent = np.linalg.norm(xy.max(axis=1) - xy.min(axis=1), axis=-1)
    return centre, np.maximum(torso, 0.25 * extent)


def _plausible(centre, scale, a: int, b: int, fps: float) -> bool:
    """Could the body at row ``a`` be the same person as the body at row ``b > a``?"""
    seconds = (b - a) / fps
    size = 0.5 * (scale[a] + scale[b])
    ratio = max(scale[a], scale[b]) / max(min(scale[a], scale[b]), 1e-6)
    distance = np.linalg.norm(centre[b] - centre[a])
    return (ratio <= MAX_SCALE_RATIO + SCALE_RATIO_PER_SECOND * seconds
            and distance <= size * (MAX_STEP + MAX_SPEED * seconds))


def split_tracklets(keypoints: np.ndarray, found: np.ndarray, fps: float) -> list[Tracklet]:
    centre, scale = body_centre_and_scale(keypoints)
    visibility = keypoints[..., 2].mean(axis=1)
    tracklets = []
    for row in np.flatnonzero(found):
        current = tracklets[-1] if tracklets else None
        if current and current.last == row - 1 and _plausible(centre, scale, row - 1, row, fps):
            current.last = row
            current.score += float(visibility[row])
        else:
            tracklets.append(Tracklet(int(row), int(row), float(visibility[row])))
    return tracklets


def select_main_person(keypoints: np.ndarray, found: np.ndarray, fps: float):
    """``(mask (T,) bool of the main person's frames, tracklets, indices of the chosen ones)``."""
    tracklets = split_tracklets(keypoints, found, fps)
    mask = np.zeros(found.shape[0], bool)
    if not tracklets:
        return mask, tracklets, []
    centre, scale = body_centre_and_scale(keypoints)
    max_gap = MAX_GAP_SECONDS * fps
    best = [t.score for t in tracklets]   # best chain score ending with tracklet j
    previous = [-1] * len(tracklets)
    for j, later in enumerate(tracklets):
        for i in range(j - 1, -1, -1):
            earlier = tracklets[i]
            if later.first - earlier.last > max_gap:
                break  # tracklets are in time order: every earlier one is further away
            if best[i] + later.score > best[j] and _plausible(centre, scale, earlier.last, later.first, fps):
                best[j], previous[j] = best[i] + later.score, i
    chain = [int(np.argmax(best))]
    while previous[chain[-1]] >= 0:
        chain.append(previous[chain[-1]])
    chain.reverse()
    for index in chain:
        mask[tracklets[index].first:tracklets[index].last + 1] = True
    return mask, tracklets, chain
