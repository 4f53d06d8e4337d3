"""Left/right label swaps of the detector, undone by continuity over time.

MediaPipe Pose sometimes gives a limb the other side's label for a run of frames: the points
sit on the right limbs, but the left ankle is reported where the right ankle is (a leg swap
during a spin), or the whole body at once (a front/back confusion while dancing). In 3D such a
run is a body that turns inside out and back within a few frames, which no prior can smooth
away. Points do not jump across the body between two frames, so for each group of mirrored
landmarks the labelling that moves least over time is chosen, by dynamic programming over
"as detected" / "swapped" per frame, with a fixed cost for every frame that differs from the
detector (so that limbs crossing each other leave its labels alone).
"""
import numpy as np

from backend.track import body_centre_and_scale
from smplcore.skeleton import LANDMARK_INDEX, LANDMARK_MIRROR

# groups of left landmarks that swap together; each group decides on its own, since a
# detector may swap the legs of a spinning dancer and keep the arms
SWAP_GROUPS = (
    ("left_eye_inner", "left_eye", "left_eye_outer", "left_ear", "mouth_left"),
    ("left_shoulder", "left_elbow", "left_wrist", "left_pinky", "left_index", "left_thumb"),
    ("left_hip", "left_knee", "left_ankle", "left_heel", "left_foot_index"),
)
# a point moves about MOTION_SCALE body sizes between two frames at 30 fps, and each frame a
# point differs from the detector's label costs as much as an unexplained move of SWAP_COST of
# those; chosen on the training renders (bench/sides.py --renders data/renders/train --grid ...)
MOTION_SCALE = 0.15
SWAP_COST = 1.0
MIN_VISIBILITY = 0.05


def consistent_sides(keypoints, world=None, fps=30.0, found=None):
    """``keypoints`` (T, 33, 3) pixels + visibility and ``world`` (T, 33, 3) or None, with
    left/right swapped back where continuity says the detector swapped them (new arrays;
    frames where nobody was found (``found`` False or all-zero rows) split the runs).
    Returns ``(keypoints, world, swapped)``: ``swapped`` (T, len(SWAP_GROUPS)) bool."""
    keypoints = np.asarray(keypoints, np.float32)
    if found is None:
        found = keypoints[..., 2].max(axis=1) > 0
    swapped = np.zeros((len(keypoints), len(SWAP_GROUPS)), bool)
    _, scale = body_centre_and_scale(keypoints)
    # frame-to-frame motion allowance, in pixels, at this frame rate
    allowance = np.maximum(scale, 1.0) * MOTION_SCALE * 30.0 / max(float(fps), 1.0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], found.astype(int), [0]])))
    for first, stop in zip(edges[::2], edges[1::2]):
        for g, group in enumerate(SWAP_GROUPS):
            left = [LANDMARK_INDEX[name] for name in group]
            right = [LANDMARK_MIRROR[i] for i in left]
            swapped[first:stop, g] = _cheapest_labels(keypoints[first:stop], left, right, allowance[first:stop])
    keypoints, world = keypoints.copy(), None if world is None else np.array(world, np.float32)
    for g, group in enumerate(SWAP_GROUPS):
        left = [LANDMARK_INDEX[name] for name in group]
        both = left + [LANDMARK_MIRROR[i] for i in left]
        mirrored = [LANDMARK_MIRROR[i] for i in both]
        rows = swapped[:, g]
        keypoints[np.ix_(rows, both)] = keypoints[np.ix_(rows, mirrored)]
        if world is not None:
            world[np.ix_(rows, both)] = world[np.ix_(rows, mirrored)]
    return keypoints, world, swapped


def _cheapest_labels(keypoints, left, right, allowance):
    """Per frame of one run, whether the group is swapped: the Viterbi path of the two states.
    (Scoring departures from constant velocity instead of motion labelled worse on the training
    renders: the second difference doubles the detector's noise.)"""
    n = len(keypoints)
    if n < 2:
        return np.zeros(n, bool)
    xy = keypoints[..., :2]
    sides = np.stack([xy[:, left + right], xy[:, right + left]], axis=1)  # (T, 2, 2G, 2)
    visible = np.minimum(keypoints[:, left, 2], keypoints[:, right, 2])
    weight = np.concatenate([visible, visible], axis=1)                   # (T, 2G)
    weight = np.where(weight > MIN_VISIBILITY, weight, 0.0)
    # move[t, a, b]: from labelling a at frame t to labelling b at frame t + 1
    step = sides[1:, None] - sides[:-1, :, None]                          # (T-1, 2, 2, 2G, 2)
    w = np.minimum(weight[1:], weight[:-1])[:, None, None]
    move = (w * (step ** 2).sum(-1)).sum(-1) / allowance[1:, None, None] ** 2
    unary = SWAP_COST * weight.sum(1)[:, None] * np.array([0.0, 1.0])[None]  # (T, 2)
    total = unary[0].copy()
    back = np.zeros((n, 2), np.int64)
    for t in range(1, n):
        options = total[:, None] + move[t - 1]                             # (a, b)
        back[t] = options.argmin(0)
        total = options.min(0) + unary[t]
    path = np.zeros(n, np.int64)
    path[-1] = int(total.argmin())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path.astype(bool)
