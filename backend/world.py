"""Floor, gravity and a world frame for a static camera, from the solved motion.

Planted feet over a clip lie on one plane, the floor; its normal is gravity's opposite and its
distance from the camera centre is the camera's height. The estimate:

1. the body's up axis (pelvis -> neck, tilted back by the trunk's usual forward lean), its mean
   over the upright frames: a first guess of "up";
2. per frame and foot, the foot's lowest sole vertex if the foot is slow: points where a foot
   is planted;
3. RANSAC over normals of planes through three such points (within 35 deg of the body's up):
   the normal along which most planted points share a few heights (levels: the floor, a stair,
   a box top). Airborne frames of a jump are off every level, so they do not tilt the floor;
4. a least-squares refit of parallel planes through the levels, with a weak pull toward the
   body's up that only matters where the points cannot tell the tilt (feet on one line, or
   standing still); the floor is the lowest level that holds a good share of the points;
5. trust checks: the floor agrees with the body's up, its levels are parallel, each half of the
   clip's own floor agrees with it, the person is upright on it most of the time (not a cartwheel,
   a get-up, a crawl), and the camera it implies could have filmed it (above it, not rolled far).

Everything here is in the OpenCV camera frame (x right, y down, z forward), metres; the world
frame (Z up, floor z = 0, the camera's view direction along +Y, origin under the person's first
position) is built from the floor by :func:`cam_to_world`.
"""
from dataclasses import dataclass

import numpy as np

from .scorehmr import FEET

PELVIS, LEFT_HIP, RIGHT_HIP, NECK = 0, 1, 2, 12
# MediaPipe's landmarks the spine is read from (their world landmarks, ``landmark_spine_directions``)
SHOULDER_LANDMARKS, HIP_LANDMARKS = [11, 12], [23, 24]   # left, right
# people carry the trunk leaning forward: on the training clips' true motion the pelvis -> neck
# line of an upright person leans ahead of gravity (walks 2.5-5.5 deg on average, the climbs 5.5-8,
# punches 12). Where the planted feet cannot fix the floor's tilt (feet along a line: most walks),
# the body's up sets it, so the lean tilted those floors forward. Allowing 3 deg, the first floors
# of the 105 training views' solves that 0 / 2 / 3 / 4 deg all found (34) were 4.8 / 4.4 / 4.2 /
# 4.1 deg off gravity on average; 3, the walks' own lean, rather than a fit to the solves
FORWARD_LEAN = 3.0         # deg
# contact candidates; chosen on the training clips' solved motion (renders and synthetic views,
# 103 cases): against 0.5 m/s and 6 cm, gravity error 4.6 -> 4.5 deg (frame-weighted 4.3 -> 3.9),
# camera height error 391 -> 356 mm, floors 9+ deg off 8 -> 5, floors found 52 -> 47
PLANTED_SPEED = 0.25       # m/s: a foot joint slower than this may be planted
PLANTED_LOW = 0.04         # m: ... if its sole is no higher than this above the other foot's
INLIER_DISTANCE = 0.05     # m from the plane (the per-frame depth noise is a few cm)
MAX_TILT_FROM_BODY = 35.0  # deg: a floor steeper than this against the body's up is not a floor
UP_PRIOR_SPREAD = 0.1      # m: the body's up counts as much as planted points spread this far apart
# a floor needs this much time with a foot planted, whatever the frame rate (counted in frames, not
# frames x feet: standing on both feet for a moment gives two spots, not a plane). With less the
# floor's tilt rests on the body's up alone. Training renders (105 views, 30 fps), 8 planted points
# needed -> 15 frames: 8 floors of short clips refused, 4 of them 8.5-11.5 deg off and 4 within
# 1.5-4.4 deg; gravity error over the floors 3.69 -> 2.62 deg (median 2.69 -> 1.64, frame-weighted
# 2.32 -> 2.04), floors 7+ deg off 6 -> 2, camera height 290 -> 220 mm (frame-weighted 214 -> 204)
MIN_PLANTED_TIME = 0.5     # s
# trust checks, chosen on training clips (wrong floors there came with these disagreements).
# With the lean allowed for, 6 deg instead of 12 looked better on the 105 training views' solves
# (21 floors instead of 29, 3 instead of 7 of them more than 7 deg off) but lost as many good floors
# as bad ones, and refuses the exact floor of a walk with jumps (the jumps lean far forward)
MAX_BODY_DISAGREEMENT = 12.0   # deg between the floor's up and the body's usual up
MAX_HALF_DISAGREEMENT = 15.0   # deg between the floor of half the clip and the whole clip's
# the camera the floor implies must be one that can film it: above it (a wrong tilt of a few
# planted feet easily puts the floor's plane above the camera) and not rolled far about its view
# axis. Training clips: every floor within 6 deg of the truth had its camera 0.03 m or more above
# it and rolled 16 deg at most; 8 of the 14 floors 9 deg or more off failed one of the two
MAX_CAMERA_ROLL = 20.0     # deg
UPRIGHT_CONE = 25.0        # deg: spine directions this close count as one posture
UPRIGHT_SHARE = 0.25       # the person is upright (spine within MAX_TILT_FROM_BODY) this share of the time
# a floor is trusted only for a person who stands on it: the floor's tilt comes from the body's up
# wherever the planted feet cannot fix it (feet along a line or on a small patch, as in most short
# clips), and acrobatics put slow feet in the air. Training renders (105 views): the cartwheel and
# get-up floors 17 and 20 deg off had the person upright 41 % and 37 % of the time, every spin, walk
# and climb view 61 % or more (in the clips' truth: cartwheel 39 %, get-ups 13 % and 47 %, climbs
# 64 % or more)
STANDING_SHARE = 0.5       # the person is upright (spine within MAX_TILT_FROM_BODY of the floor's up) this share of the time
# levels (the floor, box tops, stairs) are parallel: each level big enough to be the floor
# (FLOOR_SHARE), refitted alone with the same pull toward the body's up, must lie within this of the
# common plane. Training renders, first solves: the climb floors 8-13 deg off had such a level 5.3-7.5
# deg from it (5 of 8 views), the climb floors within 5 deg of the truth 4.3 deg at most; the check
# refused 3 shipped floors 8.5-13 deg off and no other (5 floors 7-10 deg off and no other with the
# previous checkpoint's solves). Single-level floors (walks) are unaffected. Where a level's feet lie
# along a line, the pull decides its tilt: a body leaning differently there reads as a disagreement
MAX_LEVEL_DISAGREEMENT = 5.0   # deg
PILE_DISTANCE = 0.02       # m: heights this close pile up on one level when scoring a normal
LEVEL_SHARE = 0.1          # a level (floor, stair) holds at least this share of the planted points
FLOOR_SHARE = 0.15         # the floor is the lowest level with this share of the points on levels
SOLE_BAND = 0.015          # m: rest-pose vertices this close to the lowest one make the soles


class FloorError(ValueError):
    """No floor can be trusted in this motion (the reason says why)."""


@dataclass
class Floor:
    up: np.ndarray        # (3,) unit vector, camera frame: opposite to gravity
    height: float         # camera height above the floor, metres
    inliers: int          # planted points on the floor
    planted: int          # planted points considered

    def height_of(self, points):
        """Height above the floor of camera-frame points (..., 3)."""
        return np.asarray(points) @ self.up + self.height


def sole_vertex_ids(body, betas=None):
    """Vertex ids of the soles (within SOLE_BAND of the lowest rest vertex) and which are on the
    left foot (SMPL rest: +Y up, +X the person's left)."""
    import torch

    with torch.no_grad():
        rest = body.skin(torch.arange(body.v_template.shape[0]), torch.eye(3).expand(1, 24, 3, 3).clone(), betas)[0]
    ids = torch.nonzero(rest[:, 1] < rest[:, 1].min() + SOLE_BAND).flatten()
    return ids, (rest[ids, 0] > 0).numpy()


def sole_points(body, rotmats, betas, trans, ids):
    """Camera-frame sole vertices (T, K, 3) of a solved motion (rotmats (T, 24, 3, 3))."""
    import torch

    with torch.no_grad():
        return torch.cat([body.skin(ids, rotmats[s:s + 256], betas, trans[s:s + 256])
                          for s in range(0, rotmats.shape[0], 256)]).double().cpu().numpy()


def spine_directions(joints) -> np.ndarray:
    """Unit pelvis -> neck directions (T, 3), tilted back by FORWARD_LEAN about the hips' axis:
    where gravity usually is for an upright person."""
    return _leaned_back(joints[:, NECK] - joints[:, PELVIS], joints[:, LEFT_HIP] - joints[:, RIGHT_HIP])


def _leaned_back(spine, across):
    """Unit ``spine`` directions (T, 3) tilted back by FORWARD_LEAN about the hips' axis
    (``across``: left hip minus right hip); NaN rows where either is zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        spine = spine / np.linalg.norm(spine, axis=-1, keepdims=True)
        forward = np.cross(across, spine)
        forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    lean = np.radians(FORWARD_LEAN)
    return np.cos(lean) * spine - np.sin(lean) * forward


def body_up(spine, around=None) -> np.ndarray:
    """The body's usual up direction (unit): the mean spine direction of the frames within
    MAX_TILT_FROM_BODY of ``around``, by default within UPRIGHT_CONE of the most common
    direction (upright frames outvote crawling ones, whose directions spread over all headings)."""
    cos = np.cos(np.radians(UPRIGHT_CONE))
    if around is None:
        step = max(1, len(spine) // 300)
        close = (spine[::step] @ spine.T) > cos
        near = close[np.argmax(close.sum(1))]
    else:
        near = spine @ around > np.cos(np.radians(MAX_TILT_FROM_BODY))
    up = spine[near].mean(0)
    return up / np.linalg.norm(up)


def lowest_soles(soles, left, direction) -> np.ndarray:
    """Each foot's lowest sole vertex along ``direction``, per frame: (T, 2, 3), left and right."""
    return np.stack([foot[np.arange(len(foot)), np.argmin(foot @ direction, axis=1)]
                     for foot in (soles[:, left], soles[:, ~left])], 1)


def planted_feet(joints, lowest, up, fps, valid=None) -> np.ndarray:
    """(T, 2) left / right: the foot is slow (its ankle or its ball under PLANTED_SPEED) and not
    the lifting one (its lowest point, ``lowest`` (T, 2, 3), within PLANTED_LOW of the other's
    along ``up``)."""
    feet = joints[:, list(FEET)]                                            # (T, 4, 3): ankles, balls (L, R)
    speed = np.zeros(feet.shape[:2])
    speed[1:-1] = np.linalg.norm(feet[2:] - feet[:-2], axis=-1) * fps / 2
    speed[0], speed[-1] = speed[1], speed[-2]
    keep = valid if valid is not None else np.ones(len(joints), bool)
    height = lowest @ up
    low = height < height.min(1, keepdims=True) + PLANTED_LOW
    slow = np.minimum(speed[:, :2], speed[:, 2:]) < PLANTED_SPEED
    return low & slow & keep[:, None]


def planted_points(joints, soles, left, up, fps, valid=None) -> np.ndarray:
    """The lowest sole point (along ``up``) of each planted foot, per frame: (M, 3)."""
    lowest = lowest_soles(soles, left, up)
    return lowest[planted_feet(joints, lowest, up, fps, valid)]


def estimate_floor(joints, soles, left, fps, valid=None, seed=0, iterations=300, whole_clip=True,
                   evidence_spine=None, gravity=None) -> Floor:
    """The floor under a solved motion: camera-frame joints (T, 24, 3) and sole vertices
    (T, K, 3), translation included; ``left`` (K,) marks the left sole. Raises FloorError when
    the floor cannot be trusted: too few planted feet, a floor tilted against the body's up,
    levels that are not parallel, the two halves of the clip disagreeing, a person upright on it
    less than STANDING_SHARE of the time, or a camera below the floor or rolled far.
    ``evidence_spine``: MediaPipe's spine directions of the same frames
    (:func:`landmark_spine_directions`, NaN rows where none), or None; given, the refit's pull
    toward the body's up takes theirs in (:func:`_landmarks_up`). ``gravity``: the up (unit,
    camera frame) when it is known already — the shot's, from other people's floors
    (:func:`shared_gravity`): the floor's tilt is taken from it, only its level and height come
    from this motion, and the checks of a tilt found from it (levels, halves) are left out."""
    joints = np.asarray(joints, np.float64)
    spine = spine_directions(joints)
    up0 = body_up(spine) if gravity is None else np.asarray(gravity, np.float64)
    soles, left = np.asarray(soles, np.float64), np.asarray(left, bool)
    lowest = lowest_soles(soles, left, up0)
    feet = planted_feet(joints, lowest, up0, fps, valid)
    points = lowest[feet]
    needed, frames = min_planted(fps), int(feet.any(1).sum())
    if frames < needed:
        raise FloorError(f"only {frames} frame{'' if frames == 1 else 's'} with a planted foot; a floor needs "
                         f"{needed}, {MIN_PLANTED_TIME:g} s of them")
    best = up0 if gravity is not None else _best_normal(points, spine, up0, seed, iterations)
    # levels: the piles of planted points along it that hold a good share of them
    levels = _level_labels(points @ best)
    counts = np.bincount(levels)
    big = counts[levels] >= max(needed, LEVEL_SHARE * len(points))
    inliers, levels = points[big], np.unique(levels[big], return_inverse=True)[1]
    up0 = body_up(spine, around=best)
    up = best if gravity is not None else _refit(inliers, levels, _landmarks_up(evidence_spine, best, up0, needed))
    tilt = degrees_between(up, up0)
    if tilt > MAX_BODY_DISAGREEMENT:
        raise FloorError(f"the floor is {tilt:.0f} deg from the body's up axis")
    if whole_clip and gravity is None:
        _check_levels(inliers, levels, up, up0)
        _check_halves(joints, soles, left, fps, valid, up, evidence_spine)
    # the floor: the lowest level that holds a good share of the planted points, its height from
    # each of those feet's lowest point along the floor's own normal (the points above are the
    # lowest along the body's up: a 25 cm foot and a few degrees between the two put the chosen
    # point a centimetre above the real lowest one, and the grounded feet that far into the floor)
    heights = lowest_soles(soles, left, up)[feet][big] @ up
    counts = np.bincount(levels)
    order = np.argsort([np.median(heights[levels == k]) for k in range(len(counts))])
    floor_level = next((k for k in order if counts[k] >= FLOOR_SHARE * len(inliers)), None)
    if floor_level is None:   # many small levels (a long stair): none of them is clearly the floor
        raise FloorError(f"the planted feet spread over {len(counts)} levels, none of them clearly the floor")
    height = -float(np.median(heights[levels == floor_level]))
    floor = Floor(up=up, height=height, inliers=len(inliers), planted=len(points))
    if whole_clip:   # (a half's floor is only compared with the whole's)
        _check_standing(spine, up, valid)
        _check_camera(floor)
    return floor


def _best_normal(points, spine, up0, seed, iterations):
    """The floor's normal among the body's up and the normals of planes through three planted
    points that the spine is close to on enough frames (the person is upright on the floor part
    of the time): the one along which the planted points pile up on the fewest heights (the
    floor, a stair, a box top)."""
    rng = np.random.default_rng(seed)
    cos_max = np.cos(np.radians(MAX_TILT_FROM_BODY))
    # (the draws one by one, the same stream as ever; the rest for all of them at once)
    a, b, c = points[np.stack([rng.choice(len(points), 3, replace=False) for _ in range(iterations)])].transpose(1, 0, 2)
    normal = np.cross(b - a, c - a)
    norm = np.linalg.norm(normal, axis=1)
    spanning = norm >= 1e-6                                                 # not three points on a line
    normal = normal[spanning] / norm[spanning, None]
    along = spine @ normal.T                                                # (T, candidates)
    sign = np.sign(np.median(along, axis=0))                                # each normal pointing up
    normal, along = normal * sign[:, None], along * sign
    upright = np.mean(along > cos_max, axis=0) >= UPRIGHT_SHARE
    return max([up0, *normal[upright]], key=lambda n: _pile_up(points @ n))


def min_planted(fps):
    """Frames with a planted foot a floor needs (MIN_PLANTED_TIME of them); also the least
    planted points a level (floor, stair) holds, and the least frames of MediaPipe's landmarks
    that give their own up."""
    return max(3, int(np.ceil(MIN_PLANTED_TIME * fps - 1e-9)))


def shared_gravity(floors):
    """One up for the floors found under one static camera (several people in a shot; gravity is
    one): the mean of their ups weighted by the planted points on each, over the floors within
    MAX_HALF_DISAGREEMENT of the best-supported one (one further off is wrong). Returns the up
    and the indices of the floors it took."""
    reference = max(floors, key=lambda f: f.inliers).up
    used = [k for k, f in enumerate(floors)
            if degrees_between(f.up, reference) <= MAX_HALF_DISAGREEMENT]
    up = sum(floors[k].inliers * floors[k].up for k in used)
    return up / np.linalg.norm(up), used


def degrees_between(a, b) -> float:
    """Angle (deg) between unit vectors ``a`` and ``b`` (floor ups, gravity)."""
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


def _check_standing(spine, up, valid=None):
    """The person is upright on the floor (spine within MAX_TILT_FROM_BODY of its up) on at least
    STANDING_SHARE of the observed frames."""
    upright = spine @ up > np.cos(np.radians(MAX_TILT_FROM_BODY))
    share = upright[valid].mean() if valid is not None and valid.any() else upright.mean()
    if share < STANDING_SHARE:
        raise FloorError(f"the person is upright on only {share:.0%} of the frames (acrobatics, lying, crawling): "
                         f"the body cannot tell the floor's tilt")


def _check_camera(floor):
    """The camera the floor implies must be above it and roughly level about its view axis."""
    if floor.height <= 0:
        raise FloorError(f"the floor would pass {-floor.height:.2f} m above the camera")
    roll = camera_tilt(cam_to_world(floor))[1]
    if abs(roll) > MAX_CAMERA_ROLL:
        raise FloorError(f"the floor would have the camera rolled {abs(roll):.0f} deg about its view axis")


def _check_levels(points, levels, up, up0):
    """Each level big enough to be the floor (a box top, a landing), fitted alone, must be parallel
    to the floor."""
    counts = np.bincount(levels)
    for k in np.nonzero(counts >= FLOOR_SHARE * len(points))[0]:
        own = _refit(points[levels == k], np.zeros(int(counts[k]), np.int64), up0)
        angle = degrees_between(own, up)
        if angle > MAX_LEVEL_DISAGREEMENT:
            raise FloorError(f"the planted feet of one level lie on a plane {angle:.0f} deg from the floor's: "
                             f"the levels are not parallel")


def _check_halves(joints, soles, left, fps, valid, up, evidence_spine=None):
    """Each half of the clip, where it has a floor of its own, must agree with the whole's."""
    half = len(joints) // 2
    for part in (slice(0, half), slice(half, None)):
        try:
            own = estimate_floor(joints[part], soles[part], left, fps, None if valid is None else valid[part],
                                 whole_clip=False, evidence_spine=None if evidence_spine is None else evidence_spine[part])
        except FloorError:
            continue
        angle = degrees_between(own.up, up)
        if angle > MAX_HALF_DISAGREEMENT:
            raise FloorError(f"the floor of one half of the clip is {angle:.0f} deg from the whole clip's")


def _pile_up(heights):
    """Pairs of points within PILE_DISTANCE of each other in height: high when they lie on few levels."""
    order = np.sort(heights)
    return int((np.searchsorted(order, heights + PILE_DISTANCE) - np.searchsorted(order, heights - PILE_DISTANCE)).sum())


def _level_labels(heights):
    """Split heights into levels at gaps wider than INLIER_DISTANCE: a label per point."""
    order = np.argsort(heights)
    breaks = np.concatenate([[0], np.cumsum(np.diff(heights[order]) > INLIER_DISTANCE)])
    labels = np.empty(len(heights), np.int64)
    labels[order] = breaks
    return labels


def _landmarks_up(evidence_spine, around, fallback, needed):
    """The up the floor's refit pulls toward: the mean of the solved body's (``fallback``) and
    the one of MediaPipe's world landmarks (``evidence_spine``, NaN rows where a frame has none;
    :func:`body_up` around ``around``), or ``fallback`` alone with fewer than ``needed`` landmark
    frames near ``around``.
    MediaPipe's 3D is evidence partly independent of the solve: on the 35 training views with a
    floor its up is 3.6 deg from gravity (median), the solved body's 4.3 deg. With the mean the
    105 training views got 30 floors instead of 34 (the four lost were 3.4-9.7 deg off), 2.32
    deg from gravity instead of 3.07 (2.44 on the same 30), camera height 214 mm off instead of
    278; MediaPipe's up alone did about as well there (29 floors, 2.33 deg, 201 mm), but the mean
    keeps the solved body's say where MediaPipe's 3D is off (the bundled clip's floor turned 6
    deg with theirs alone, 2.8 with the mean)."""
    if evidence_spine is None:
        return fallback
    spine = evidence_spine[np.isfinite(evidence_spine).all(1)]
    if (spine @ around > np.cos(np.radians(MAX_TILT_FROM_BODY))).sum() < needed:
        return fallback   # too few frames with landmarks near this floor's up
    both = body_up(spine, around=around) + fallback
    return both / np.linalg.norm(both)


def _refit(points, levels, up0):
    """Least-squares normal of parallel planes (one per level) through ``points`` with a pull
    toward ``up0``: the smallest eigenvector of scatter + lam (I - up0 up0^T), i.e. plane
    residuals + lam sin^2(angle to up0)."""
    centred = points.copy()
    for k in np.unique(levels):
        centred[levels == k] -= points[levels == k].mean(0)
    lam = len(points) * UP_PRIOR_SPREAD ** 2
    matrix = centred.T @ centred + lam * (np.eye(3) - np.outer(up0, up0))
    _, vectors = np.linalg.eigh(matrix)
    up = vectors[:, 0]
    return up if up @ up0 > 0 else -up


def cam_to_world(floor: Floor, origin=None) -> np.ndarray:
    """(4, 4) camera -> world: Z = up, floor at z = 0, +Y = the camera's view direction along the
    floor, +X = Y x Z; the world origin on the floor under ``origin`` (a camera-frame point, e.g.
    the first pelvis), else under the camera."""
    z = floor.up / np.linalg.norm(floor.up)
    view = np.array([0.0, 0.0, 1.0])
    y = view - (view @ z) * z
    if np.linalg.norm(y) < 1e-3:   # looking straight down: the image's up is forward
        y = np.array([0.0, -1.0, 0.0]) - z[1] * z
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    rotation = np.stack([x, y, z])
    shift = np.zeros(3) if origin is None else rotation @ np.asarray(origin, np.float64)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = [-shift[0], -shift[1], floor.height]
    return matrix


def camera_tilt(matrix):
    """(pitch, roll) in degrees and height (m) of a camera posed by ``cam_to_world``: pitch > 0
    looks up, roll > 0 has the camera's right side lower than its left."""
    m = np.asarray(matrix, np.float64)
    right, down, forward = m[:3, 0], m[:3, 1], m[:3, 2]
    pitch = np.degrees(np.arcsin(np.clip(forward[2], -1, 1)))
    roll = np.degrees(np.arctan2(-right[2], -down[2]))
    return float(pitch), float(roll), float(m[2, 3])


def motion_feet(body, rotmats, betas, trans):
    """Camera-frame joints (T, 24, 3) and sole vertices (T, K, 3) of a motion (rotmats
    (T, 24, 3, 3), betas (10,), trans (T, 3)), and which sole vertices are the left foot's."""
    import torch

    with torch.no_grad():
        betas = betas.reshape(1, -1)
        _, joints = body.forward_kinematics(rotmats, body.rest_joints(betas))
        ids, left = sole_vertex_ids(body, betas)
        soles = sole_points(body, rotmats, betas, trans, ids)
    return (joints + trans[:, None]).double().cpu().numpy(), soles, left


def floor_of_motion(body, x, trans, betas, fps, valid=None, landmarks=None, gravity=None) -> Floor:
    """:func:`estimate_floor` for a solved motion: x (T, 144) 6D rotations, trans (T, 3);
    ``landmarks``: MediaPipe's world landmarks of the same frames (T, 33, 3 or 4), or None;
    ``gravity``: a known up, or None."""
    from .geometry import rot6d_to_matrix

    joints, soles, left = motion_feet(body, rot6d_to_matrix(x.reshape(-1, 24, 6)), betas, trans)
    evidence = None if landmarks is None else landmark_spine_directions(np.asarray(landmarks, np.float64))
    return estimate_floor(joints, soles, left, fps, None if valid is None else np.asarray(valid, bool),
                          evidence_spine=evidence, gravity=gravity)


def landmark_spine_directions(landmarks):
    """Spine directions (T, 3) of MediaPipe's world landmarks (camera-aligned axes), tilted back by
    FORWARD_LEAN as :func:`spine_directions`; NaN rows where a frame has no landmarks."""
    return _leaned_back(landmarks[:, SHOULDER_LANDMARKS, :3].mean(1) - landmarks[:, HIP_LANDMARKS, :3].mean(1),
                        landmarks[:, HIP_LANDMARKS[0], :3] - landmarks[:, HIP_LANDMARKS[1], :3])


def floor_tensor(floor: Floor, like):
    """(4,) up and camera height, as ``Observation.floor`` wants it."""
    import torch

    return torch.as_tensor(np.append(floor.up, floor.height), dtype=like.dtype, device=like.device)


def floor_from_cam_to_world(matrix) -> Floor:
    """The floor a ``cam_to_world`` (4, 4) implies: world z is height above it."""
    m = np.asarray(matrix, np.float64)
    return Floor(up=m[2, :3], height=float(m[2, 3]), inliers=0, planted=0)
