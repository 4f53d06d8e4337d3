"""People out of single-person detections: tracklets, re-identified into persons across gaps.

MediaPipe Pose follows one person per graph; when it loses them it re-detects and may lock onto
someone else, so each detection pass is a sequence of *tracklets*, each one person: we split
where the body jumps (position or size inconsistent with the previous frame). Further passes
over the same frames with the people already found painted out (``detect.hidden``) see the
others. Tracklets are then joined into persons, in time order:

- across a short gap, one person could plausibly have moved from here to there (position and
  size prediction) and looks alike;
- across a long gap (up to ``max_gap`` seconds: someone walks out and back in), position says
  nothing, so the torso's colours (a hue/saturation histogram of the shoulder-hip box) and the
  skeleton's proportions (bone lengths over torso length, from MediaPipe's metric world
  landmarks) must both match.

Frames outside a person's tracklets are invalid for that person (confidence 0): nothing is
invented, the solver bridges them. The main person is the one seen most (summed visibility).
"""
from dataclasses import dataclass, field

import numpy as np

from smplcore.skeleton import LANDMARK_INDEX

_TORSO = [LANDMARK_INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
_BONES = {  # proportions: each bone (mean of left and right) over the torso length
    "shoulders": [("left_shoulder", "right_shoulder")], "hips": [("left_hip", "right_hip")],
    "upper_arm": [("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow")],
    "forearm": [("left_elbow", "left_wrist"), ("right_elbow", "right_wrist")],
    "thigh": [("left_hip", "left_knee"), ("right_hip", "right_knee")],
    "shin": [("left_knee", "left_ankle"), ("right_knee", "right_ankle")],
}

MAX_STEP = 1.0          # body scales the body centre may move between consecutive frames
MAX_SPEED = 4.0         # body scales per second a person may travel while undetected (walking ~3)
SHORT_GAP_SECONDS = 2.0  # up to here, position and size prediction can link tracklets
MAX_GAP_SECONDS = 30.0   # default longest gap re-identification bridges (configurable)
MAX_SCALE_RATIO = 1.5   # size change allowed between consecutive frames ...
SCALE_RATIO_PER_SECOND = 0.5  # ... plus this much per second of gap (walking towards the camera)
HUE_BINS, SATURATION_BINS, GREY_BINS = 8, 2, 4  # chromatic pixels by hue and saturation; grey ones by value
MIN_SATURATION = 40      # below this a pixel's hue is noise: it counts as grey
APPEARANCE_SIZE = HUE_BINS * SATURATION_BINS + GREY_BINS
# Measured on the bundled clip (bench/tracking.py): the woman's torso colours drift by 0.39-0.46
# (Hellinger) between the halves of her walk (sun, then shade) and differ from the man's by 0.74;
# her bone/torso ratios by 0.01 between halves, from the man's by 0.04. Colours alone are weak
# under changing light, so a long-gap link needs both.
SAME_COLOURS_NEAR = 0.6  # histogram distance (0 same .. 1 disjoint) allowed for a plausible short link
SAME_COLOURS_FAR = 0.55  # ... and for a re-identification after a long gap
SAME_PROPORTIONS = 0.03  # mean absolute difference of the bone/torso ratios allowed after a long gap
DUPLICATE_OVERLAP = 0.3  # box overlap (IoU) at which a later pass saw an already found person again


@dataclass(eq=False)
class Tracklet:
    first: int   # row of its first frame
    last: int    # row of its last frame (inclusive)
    score: float  # summed mean visibility: how much of this person was seen
    source: int = 0  # detection pass it came from
    colours: np.ndarray | None = None      # mean torso histogram, None when never measured
    proportions: np.ndarray | None = None  # median bone/torso ratios, None when unknown


@dataclass(eq=False)
class Person:
    tracklets: list = field(default_factory=list)
    keypoints: np.ndarray | None = None   # (T, 33, 3), zero where not this person
    world: np.ndarray | None = None       # (T, 33, 3)
    valid: np.ndarray | None = None       # (T,) bool

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tracklets)

    @property
    def first(self) -> int:
        return self.tracklets[0].first

    @property
    def last(self) -> int:
        return max(t.last for t in self.tracklets)

    def mean_box(self) -> list[float]:
        """Mean landmark box over the person's frames, pixels ``[x_min, y_min, x_max, y_max]``."""
        boxes = landmark_boxes(self.keypoints[self.valid])
        return [round(float(v), 1) for v in boxes.mean(axis=0)]


def body_centre_and_scale(keypoints: np.ndarray):
    """Per frame: the torso centre (pixels) and a body size that survives bending and turning."""
    xy = keypoints[..., :2]
    centre = xy[:, _TORSO].mean(axis=1)
    torso = np.linalg.norm(xy[:, _TORSO[:2]].mean(axis=1) - xy[:, _TORSO[2:]].mean(axis=1), axis=-1)
    extent = np.linalg.norm(xy.max(axis=1) - xy.min(axis=1), axis=-1)
    return centre, np.maximum(torso, 0.25 * extent)


def landmark_boxes(keypoints: np.ndarray) -> np.ndarray:
    """(T, 4) box around each frame's landmarks: x_min, y_min, x_max, y_max."""
    xy = keypoints[..., :2]
    return np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=-1)


def appearance(frame_bgr, pixels) -> np.ndarray:
    """Hue/saturation histogram (sums to 1) of the torso box, or zeros when the torso is not seen."""
    import cv2

    torso = pixels[_TORSO]
    if torso[:, 2].min() < 0.5:
        return np.zeros(APPEARANCE_SIZE, np.float32)
    (x0, y0), (x1, y1) = torso[:, :2].min(axis=0), torso[:, :2].max(axis=0)
    inset_x, inset_y = 0.15 * (x1 - x0), 0.1 * (y1 - y0)  # clothes, not the background at the edges
    height, width = frame_bgr.shape[:2]
    x0, x1 = int(np.clip(x0 + inset_x, 0, width)), int(np.clip(x1 - inset_x, 0, width))
    y0, y1 = int(np.clip(y0 + inset_y, 0, height)), int(np.clip(y1 - inset_y, 0, height))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return np.zeros(APPEARANCE_SIZE, np.float32)
    hsv = cv2.cvtColor(frame_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int64)
    chromatic = hsv[:, 1] >= MIN_SATURATION
    saturation = np.minimum((hsv[chromatic, 1] - MIN_SATURATION) * SATURATION_BINS // (256 - MIN_SATURATION),
                            SATURATION_BINS - 1)
    hist = np.concatenate([
        np.bincount(hsv[chromatic, 0] * HUE_BINS // 180 * SATURATION_BINS + saturation,
                    minlength=HUE_BINS * SATURATION_BINS),
        np.bincount(hsv[~chromatic, 2] * GREY_BINS // 256, minlength=GREY_BINS)]).astype(np.float32)
    return hist / max(hist.sum(), 1.0)


def colour_distance(a, b) -> float:
    """Hellinger distance of two histograms: 0 identical, 1 disjoint."""
    return float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(a * b)))))


def proportions(world: np.ndarray) -> np.ndarray:
    """(T, len(_BONES)) bone lengths over the torso length, from metric world landmarks."""
    at = lambda name: world[:, LANDMARK_INDEX[name]]  # noqa: E731
    torso = np.linalg.norm((at("left_shoulder") + at("right_shoulder")) / 2 - (at("left_hip") + at("right_hip")) / 2,
                           axis=-1)
    ratios = [np.mean([np.linalg.norm(at(a) - at(b), axis=-1) for a, b in pairs], axis=0) for pairs in _BONES.values()]
    return np.stack(ratios, axis=-1) / np.maximum(torso, 1e-6)[:, None]


def _plausible(centre_a, scale_a, centre_b, scale_b, seconds: float) -> bool:
    """Could a body seen at (centre_a, scale_a) be the body seen ``seconds`` later at b?"""
    size = 0.5 * (scale_a + scale_b)
    ratio = max(scale_a, scale_b) / max(min(scale_a, scale_b), 1e-6)
    distance = np.linalg.norm(centre_b - centre_a)
    return bool(ratio <= MAX_SCALE_RATIO + SCALE_RATIO_PER_SECOND * seconds
                and distance <= size * (MAX_STEP + MAX_SPEED * seconds))


def split_tracklets(keypoints: np.ndarray, found: np.ndarray, fps: float, source: int = 0) -> list[Tracklet]:
    """One detection pass cut where the body jumps between consecutive frames."""
    centre, scale = body_centre_and_scale(keypoints)
    visibility = keypoints[..., 2].mean(axis=1)
    tracklets = []
    for row in np.flatnonzero(found):
        current = tracklets[-1] if tracklets else None
        if (current and current.last == row - 1
                and _plausible(centre[row - 1], scale[row - 1], centre[row], scale[row], 1.0 / fps)):
            current.last = row
            current.score += float(visibility[row])
        else:
            tracklets.append(Tracklet(int(row), int(row), float(visibility[row]), source))
    return tracklets


def _describe(tracklet, found, appearance_rows, world):
    rows = np.arange(tracklet.first, tracklet.last + 1)
    rows = rows[found[rows]]
    if appearance_rows is not None:
        seen = appearance_rows[rows][appearance_rows[rows].sum(axis=1) > 0]
        if len(seen):
            tracklet.colours = seen.mean(axis=0)
    if world is not None and np.any(world[rows]):
        tracklet.proportions = np.median(proportions(world[rows]), axis=0)


def _link_cost(person, later, ends, fps, max_gap_frames):
    """How well ``later`` continues ``person`` (lower is better), or None when it cannot."""
    earlier = max(person.tracklets, key=lambda t: t.last)
    gap = later.first - earlier.last
    if gap <= 0 or gap > max_gap_frames:
        return None
    seconds = gap / fps
    colours = (colour_distance(person.colours, later.colours)
               if person.colours is not None and later.colours is not None else None)
    (centre_a, scale_a), (centre_b, scale_b) = ends[id(earlier)][1], ends[id(later)][0]
    if seconds <= SHORT_GAP_SECONDS and _plausible(centre_a, scale_a, centre_b, scale_b, seconds):
        if colours is None or colours <= SAME_COLOURS_NEAR:
            return seconds + (colours or 0.0)
    if colours is None or colours > SAME_COLOURS_FAR:
        return None  # far away or long gone: only looks can tell, and they must agree
    shape = (float(np.abs(person.proportions - later.proportions).mean())
             if person.proportions is not None and later.proportions is not None else 0.0)
    return None if shape > SAME_PROPORTIONS else 10.0 + seconds + colours + shape


class _Building:
    def __init__(self, tracklet):
        self.tracklets = [tracklet]
        self.colours, self.proportions = tracklet.colours, tracklet.proportions

    @property
    def last(self):
        return max(t.last for t in self.tracklets)

    def add(self, tracklet):
        weights = [t.last - t.first + 1 for t in self.tracklets if t.colours is not None]
        if tracklet.colours is not None:
            self.colours = (tracklet.colours if self.colours is None else
                            (self.colours * sum(weights) + tracklet.colours * (tracklet.last - tracklet.first + 1))
                            / (sum(weights) + tracklet.last - tracklet.first + 1))
        if self.proportions is None:
            self.proportions = tracklet.proportions
        self.tracklets.append(tracklet)


def _drop_duplicates(passes):
    """Rows where a later pass found a person an earlier pass had already found (masking missed)."""
    found = [p["found"].copy() for p in passes]
    for k in range(1, len(passes)):
        boxes = landmark_boxes(passes[k]["keypoints"])
        for j in range(k):
            other = landmark_boxes(passes[j]["keypoints"])
            both = found[k] & passes[j]["found"]
            low, high = np.maximum(boxes[:, :2], other[:, :2]), np.minimum(boxes[:, 2:], other[:, 2:])
            inter = np.prod(np.clip(high - low, 0, None), axis=1)
            union = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) + np.prod(other[:, 2:] - other[:, :2], axis=1) - inter
            found[k] &= ~(both & (inter > DUPLICATE_OVERLAP * np.maximum(union, 1e-6)))
    return found


def identify_people(passes, fps: float, max_gap_seconds: float = MAX_GAP_SECONDS) -> list[Person]:
    """Persons from detection passes over the same frames, main person first, then by frames seen.

    ``passes``: dicts (or objects) with ``keypoints`` (T, 33, 3), ``found`` (T,), optional
    ``world`` (T, 33, 3) and ``appearance`` (T, APPEARANCE_SIZE).
    """
    passes = [p if isinstance(p, dict) else vars(p) for p in passes]
    found = _drop_duplicates(passes)
    tracklets, ends = [], {}
    for source, (detections, seen) in enumerate(zip(passes, found)):
        centre, scale = body_centre_and_scale(detections["keypoints"])
        for tracklet in split_tracklets(detections["keypoints"], seen, fps, source):
            _describe(tracklet, seen, detections.get("appearance"), detections.get("world"))
            ends[id(tracklet)] = ((centre[tracklet.first], scale[tracklet.first]),
                                  (centre[tracklet.last], scale[tracklet.last]))
            tracklets.append(tracklet)
    tracklets.sort(key=lambda t: (t.first, t.source))
    max_gap_frames = max_gap_seconds * fps
    building = []
    for tracklet in tracklets:
        costs = [(_link_cost(person, tracklet, ends, fps, max_gap_frames), k) for k, person in enumerate(building)]
        costs = [(cost, k) for cost, k in costs if cost is not None]
        if costs:
            building[min(costs)[1]].add(tracklet)
        else:
            building.append(_Building(tracklet))
    people = []
    total = passes[0]["found"].shape[0]
    for built in building:
        person = Person(tracklets=sorted(built.tracklets, key=lambda t: t.first),
                        keypoints=np.zeros((total,) + passes[0]["keypoints"].shape[1:], np.float32),
                        world=np.zeros((total,) + passes[0]["keypoints"].shape[1:], np.float32),
                        valid=np.zeros(total, bool))
        for t in person.tracklets:
            rows = slice(t.first, t.last + 1)
            keep = found[t.source][rows]
            person.valid[rows] |= keep
            person.keypoints[rows][keep] = passes[t.source]["keypoints"][rows][keep]
            if passes[t.source].get("world") is not None:
                person.world[rows][keep] = passes[t.source]["world"][rows][keep]
        people.append(person)
    if not people:
        return []
    main = max(people, key=lambda p: p.score)
    others = sorted((p for p in people if p is not main), key=lambda p: (-int(p.valid.sum()), p.first))
    return [main] + others


def select_main_person(keypoints: np.ndarray, found: np.ndarray, fps: float, appearance=None, world=None,
                       max_gap_seconds: float = MAX_GAP_SECONDS):
    """``(mask (T,) bool of the main person's frames, tracklets, indices of the chosen ones)``."""
    people = identify_people([dict(keypoints=keypoints, found=found, appearance=appearance, world=world)], fps,
                             max_gap_seconds)
    if not people:
        return np.zeros(found.shape[0], bool), [], []
    tracklets = sorted((t for p in people for t in p.tracklets), key=lambda t: t.first)
    chain = [tracklets.index(t) for t in people[0].tracklets]
    return people[0].valid, tracklets, chain
