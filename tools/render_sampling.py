"""What one rendered (clip, view) looks like: camera, body shape, colours, light, background,
occluder and image degradations, drawn from one seeded generator (numpy only, no bpy).

World frame: Z up, floor z = 0 (the clip's Y-up world mapped by ``smplcore.axes``).
Camera frame: OpenCV (x right, y down, z forward); ``cam_to_world`` maps it to the world.
"""
import glob
import math
import os
from dataclasses import dataclass, field

import numpy as np

from smplcore.skeleton import JOINT_INDEX

FULL_FRAME_DIAGONAL_MM = 43.27  # "35 mm equivalent" focal lengths are relative to this diagonal
IMAGE_SIZES = ((640, 480), (640, 360), (480, 640), (360, 640))  # landscape and portrait
STUDIO_LIGHTS = ("Default", "basic.sl", "outdoor.sl", "rim.sl", "studio.sl")

# sRGB skin tones from very light to very dark (roughly the Monk skin tone scale)
SKIN_TONES = np.array([(246, 237, 228), (243, 231, 219), (247, 234, 208), (234, 218, 186), (215, 189, 150),
                       (160, 126, 86), (130, 92, 67), (96, 65, 52), (58, 49, 42), (41, 36, 32)]) / 255.0
HAIR_COLOURS = np.array([(20, 17, 15), (45, 30, 22), (90, 60, 40), (180, 140, 90), (150, 150, 150), (120, 50, 30)]) / 255.0
CLOTHING_NEUTRALS = np.array([(20, 20, 22), (60, 60, 65), (130, 130, 130), (230, 230, 225), (35, 45, 80),
                              (60, 80, 120), (90, 70, 50), (190, 175, 140)]) / 255.0


@dataclass
class View:
    """A static camera: intrinsics in pixels, pose in the world."""
    image_size: tuple          # (width, height)
    focal_length: float        # pixels
    cam_to_world: np.ndarray   # (4, 4), OpenCV camera axes
    truncated: bool            # drawn to cut part of the body off

    @property
    def world_to_cam(self) -> np.ndarray:
        return np.linalg.inv(self.cam_to_world)

    def project(self, points_world):
        """(…, 3) world points -> (…, 2) pixels and (…,) depth."""
        m = self.world_to_cam
        p = points_world @ m[:3, :3].T + m[:3, 3]
        w, h = self.image_size
        z = np.maximum(p[..., 2], 1e-3)
        return np.stack([self.focal_length * p[..., 0] / z + w / 2, self.focal_length * p[..., 1] / z + h / 2], -1), p[..., 2]


@dataclass
class Look:
    """Everything about the picture except geometry."""
    skin: np.ndarray           # sRGB (3,)
    hair: np.ndarray | None
    shirt: np.ndarray
    trousers: np.ndarray
    shoes: np.ndarray
    sleeve: float              # 0 sleeveless .. 1 long sleeves (fraction of the arm covered)
    trouser_leg: float         # 0 shorts .. 1 full length (fraction of the leg covered)
    stripes: float             # period in metres of shirt stripes, 0 for none
    studio_light: str
    light_rotation: float      # radians about the world Z axis
    shadow: float              # 0 none .. 1 strong (Workbench's shadow intensity)
    background: str            # photo path or "procedural:<kind>"
    background_crop: tuple     # (x0, y0, scale, flip) within the photo
    brightness: float
    contrast: float
    white_balance: np.ndarray  # (3,) multipliers
    noise_sigma: float         # grey levels
    blur_sigma: float          # pixels, 0 for none
    jpeg_quality: int
    occluder: dict | None = field(default=None)  # {"box": (x0, y0, x1, y1) px, "colour" or "background"}


def _random_clothing(rng):
    if rng.random() < 0.55:
        return CLOTHING_NEUTRALS[rng.integers(len(CLOTHING_NEUTRALS))] * rng.uniform(0.85, 1.15)
    hue, sat, val = rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.95)
    return np.clip(_hsv_to_rgb(hue, sat, val), 0, 1)


def _hsv_to_rgb(h, s, v):
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def sample_betas(rng, num_betas=10) -> np.ndarray:
    """Shape coefficients of the shipped model (unit variance = its population of adults)."""
    return np.clip(rng.normal(0.0, 1.0, num_betas), -2.5, 2.5)


def focal_from_equivalent(mm, image_size) -> float:
    return mm * math.hypot(*image_size) / FULL_FRAME_DIAGONAL_MM


def _look_at(position, target, roll):
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= max(np.linalg.norm(right), 1e-9)
    down = np.cross(forward, right)
    c, s = math.cos(roll), math.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    m = np.eye(4)
    m[:3, :3] = np.stack([right, down, forward], 1)
    m[:3, 3] = position
    return m


def sample_view(rng, joints_world, truncate_prob=0.15, tries=60) -> View:
    """A random static camera that sees the clip's body (joints_world (T, 24, 3), Z up).

    Focal 24–85 mm equivalent, camera height 0.3–2.5 m, distance 1.5–10 m to the body,
    pitch from looking at the body plus jitter, some roll, the body off centre. Most views
    keep the whole body in frame on >= 90 % of frames; a few are drawn to cut it (truncation).
    """
    image_size = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    width, height = image_size
    truncated = rng.random() < truncate_prob
    pelvis = joints_world[:, JOINT_INDEX["pelvis"]]
    centre = pelvis.mean(0)
    body_height = 1.75
    best, best_score = None, -1.0
    for attempt in range(tries):
        mm = math.exp(rng.uniform(math.log(24), math.log(85)))
        if attempt > tries // 2:  # the clip moves far: wider lenses
            mm = rng.uniform(24, 35)
        focal = focal_from_equivalent(mm, image_size)
        # distance that makes the body fill 45-90 % of the image height (closer when truncating)
        fill = rng.uniform(0.85, 1.6) if truncated else rng.uniform(0.45, 0.9)
        distance = float(np.clip(focal * body_height / (fill * height), 1.5, 10.0))
        cam_z = rng.uniform(0.3, 2.5)
        target = centre + np.array([0.0, 0.0, rng.uniform(-0.3, 0.3)])
        target[2] = max(target[2], 0.3)
        horizontal = math.sqrt(max(distance ** 2 - (cam_z - target[2]) ** 2, 0.25))
        azimuth = rng.uniform(0, 2 * math.pi)
        position = np.array([target[0] + horizontal * math.cos(azimuth), target[1] + horizontal * math.sin(azimuth), cam_z])
        # the body off centre: aim a little beside it (up to a quarter of the field of view)
        fov_x, fov_y = width / focal, height / focal
        aim = target + _look_at(position, target, 0.0)[:3, :3] @ np.array(
            [rng.uniform(-0.25, 0.25) * fov_x * distance / 2, rng.uniform(-0.2, 0.2) * fov_y * distance / 2, 0.0])
        roll = math.radians(rng.uniform(-25, 25) if rng.random() < 0.1 else rng.normal(0, 4))
        view = View(image_size, focal, _look_at(position, aim, roll), truncated)
        pixels, depth = view.project(joints_world)
        if depth.min() < 0.8:  # the body walks into the camera
            continue
        inside = ((pixels[..., 0] > 0) & (pixels[..., 0] < width) & (pixels[..., 1] > 0) & (pixels[..., 1] < height))
        all_in = inside.all(1).mean()
        most_in = (inside.mean(1) > 0.6).mean()
        size = (pixels[..., 1].max(1) - pixels[..., 1].min(1)).max() / height
        if truncated:
            score = most_in * (1.0 - all_in) if size > 0.4 else 0.0
            ok = most_in > 0.8 and all_in < 0.7
        else:
            score = all_in * min(1.0, size / 0.4)
            ok = all_in > 0.9 and size > 0.35  # joints span ~85 % of the body's height
        if ok:
            return view
        if score > best_score:
            best, best_score = view, score
    return best


def sample_look(rng, backgrounds, image_size, body_box) -> Look:
    """Colours, light, background and degradations for one view; ``body_box`` is the union of
    the body's 2D boxes over the clip (x0, y0, x1, y1), for placing an occluder."""
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05)
    occluder = None
    if rng.random() < 0.25:
        x0, y0, x1, y1 = body_box
        bw, bh = x1 - x0, y1 - y0
        if rng.random() < 0.5:  # a post in front of the path
            w = rng.uniform(0.1, 0.3) * bw
            cx = rng.uniform(x0, x1)
            box = (cx - w / 2, rng.uniform(-0.2, 0.3) * image_size[1], cx + w / 2, image_size[1] * 1.1)
        else:  # a low wall or a car bonnet hiding the legs
            top = y0 + rng.uniform(0.55, 0.85) * bh
            box = (-10, top, image_size[0] + 10, image_size[1] + 10)
        occluder = {"box": tuple(float(b) for b in box),
                    "colour": [float(c) for c in _random_clothing(rng)] if rng.random() < 0.5 else None,
                    "background": None if not backgrounds else str(backgrounds[rng.integers(len(backgrounds))])}
    kinds = ("noise", "gradient", "stripes", "checker", "blobs")
    if backgrounds and rng.random() < 0.75:
        background = str(backgrounds[rng.integers(len(backgrounds))])
    else:
        background = "procedural:" + kinds[rng.integers(len(kinds))]
    return Look(
        skin=np.clip(skin, 0, 1),
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] if rng.random() < 0.85 else None,
        shirt=_random_clothing(rng), trousers=_random_clothing(rng), shoes=_random_clothing(rng) * 0.6,
        sleeve=float(rng.choice([0.0, 0.35, 0.6, 1.0], p=[0.15, 0.35, 0.1, 0.4])),
        trouser_leg=float(rng.choice([0.35, 0.6, 1.0], p=[0.25, 0.1, 0.65])),
        stripes=float(rng.uniform(0.03, 0.12)) if rng.random() < 0.2 else 0.0,
        studio_light=STUDIO_LIGHTS[rng.integers(len(STUDIO_LIGHTS))],
        light_rotation=float(rng.uniform(-math.pi, math.pi)),
        shadow=float(rng.uniform(0.0, 0.7)) if rng.random() < 0.5 else 0.0,
        background=background,
        background_crop=(float(rng.random()), float(rng.random()), float(rng.uniform(1.0, 2.0)), bool(rng.random() < 0.5)),
        brightness=float(rng.uniform(0.75, 1.2)), contrast=float(rng.uniform(0.8, 1.15)),
        white_balance=rng.uniform(0.9, 1.1, 3), noise_sigma=float(rng.uniform(0.0, 4.0)),
        blur_sigma=float(rng.uniform(0.4, 1.2)) if rng.random() < 0.3 else 0.0,
        jpeg_quality=int(rng.integers(55, 96)), occluder=occluder)


# --- vertex colours ----------------------------------------------------------------------

_ARM_JOINTS = [JOINT_INDEX[f"{s}_{p}"] for s in ("left", "right") for p in ("shoulder", "elbow", "wrist", "hand")]
_LEG_JOINTS = [JOINT_INDEX[f"{s}_{p}"] for s in ("left", "right") for p in ("hip", "knee", "ankle", "foot")]
_HEAD_JOINTS = [JOINT_INDEX["neck"], JOINT_INDEX["head"]]


def vertex_colours(look: Look, rest_vertices, skin_weights, rest_joints, face_points) -> np.ndarray:
    """sRGB colour (V, 3) of every vertex: skin, hair, shirt, trousers, shoes and facial marks.

    Regions come from the rest pose (SMPL body frame: +X left, +Y up, +Z forward, arms along
    ±X) and the skinning weights; ``face_points`` holds the rest positions of the landmarks
    named ``left_eye``, ``right_eye``, ``mouth_left``, ``mouth_right``, ``nose``.
    """
    v, w = rest_vertices, skin_weights
    arm, leg, head = w[:, _ARM_JOINTS].sum(1) > 0.5, w[:, _LEG_JOINTS].sum(1) > 0.5, w[:, _HEAD_JOINTS].sum(1) > 0.5
    torso = ~(arm | leg | head)
    colours = np.tile(look.skin, (len(v), 1))
    shoulder_x = abs(rest_joints[JOINT_INDEX["left_shoulder"], 0])
    wrist_x = abs(rest_joints[JOINT_INDEX["left_wrist"], 0])
    sleeve_x = shoulder_x + look.sleeve * (wrist_x - shoulder_x)
    hip_y = rest_joints[JOINT_INDEX["left_hip"], 1]
    ankle_y = rest_joints[JOINT_INDEX["left_ankle"], 1]
    waist_y = rest_joints[JOINT_INDEX["spine1"], 1]
    trouser_y = hip_y - look.trouser_leg * (hip_y - ankle_y) + 0.03
    shirt = (torso & (v[:, 1] > waist_y - 0.02)) | (arm & (np.abs(v[:, 0]) < sleeve_x))
    trousers = (torso & (v[:, 1] <= waist_y - 0.02)) | (leg & (v[:, 1] > trouser_y))
    shoes = leg & (v[:, 1] < ankle_y + 0.05)
    shirt_colour = np.tile(look.shirt, (len(v), 1))
    if look.stripes > 0:
        shirt_colour *= (0.75 + 0.25 * (np.sin(2 * np.pi * v[:, 1] / look.stripes) > 0))[:, None]
    colours[shirt] = shirt_colour[shirt]
    colours[trousers] = look.trousers
    colours[shoes] = look.shoes
    eyes_y = 0.5 * (face_points["left_eye"][1] + face_points["right_eye"][1])
    if look.hair is not None:  # a cap of hair: above the brow, and the back of the head
        head_v = w[:, JOINT_INDEX["head"]] > 0.5
        front_z = face_points["nose"][2]
        hair = head_v & ((v[:, 1] > eyes_y + 0.045) | ((v[:, 2] < front_z - 0.1) & (v[:, 1] > eyes_y - 0.06)))
        colours[hair] = look.hair
    for side in ("left", "right"):
        eye = face_points[f"{side}_eye"]
        near = np.linalg.norm(v - eye, axis=1) < 0.011
        colours[near] = (0.95, 0.95, 0.93)
        colours[np.linalg.norm(v - eye, axis=1) < 0.006] = (0.12, 0.08, 0.06)
        brow = (np.abs(v[:, 0] - eye[0]) < 0.022) & (np.abs(v[:, 1] - (eye[1] + 0.022)) < 0.004) & (v[:, 2] > eye[2] - 0.02)
        colours[brow] = look.hair if look.hair is not None else look.skin * 0.5
    mouth = 0.5 * (face_points["mouth_left"] + face_points["mouth_right"])
    half = 0.5 * abs(face_points["mouth_left"][0] - face_points["mouth_right"][0]) + 0.004
    lips = (np.abs(v[:, 0] - mouth[0]) < half) & (np.abs(v[:, 1] - mouth[1]) < 0.006) & (v[:, 2] > mouth[2] - 0.015)
    colours[lips] = look.skin * np.array([0.75, 0.5, 0.5])
    return np.clip(colours, 0, 1)


# --- backgrounds and compositing ---------------------------------------------------------

def photo_backgrounds(folder) -> list:
    return sorted(glob.glob(os.path.join(folder, "*.jpg")) + glob.glob(os.path.join(folder, "*.png")))


def _procedural(kind, size, rng):
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = rng.uniform(0.2, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    if kind == "gradient":
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / max(w, h)
        img = a + (b - a) * (t - t.min())[..., None] / max(np.ptp(t), 1e-6)
    elif kind == "stripes":
        t = np.sin(2 * np.pi * (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / rng.uniform(8, 80)) > 0
        img = np.where(t[..., None], a, b)
    elif kind == "checker":
        s = rng.uniform(10, 80)
        img = np.where((((xx // s) + (yy // s)) % 2)[..., None] > 0, a, b)
    elif kind == "blobs":
        import cv2
        noise = rng.random((max(2, h // 32), max(2, w // 32), 3)).astype(np.float32)
        img = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    else:  # noise
        import cv2
        img = sum(cv2.resize(rng.random((max(2, h // k), max(2, w // k), 3)).astype(np.float32), (w, h)) / (i + 1)
                  for i, k in enumerate((64, 16, 4)))
        img = img / img.max()
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def background_image(look: Look, size, rng) -> np.ndarray:
    """(H, W, 3) BGR uint8 background of the given (width, height)."""
    import cv2

    if look.background.startswith("procedural:"):
        return _procedural(look.background.split(":", 1)[1], size, rng)[..., ::-1].copy()
    return _crop(cv2.imread(look.background), size, look.background_crop)


def _crop(photo, size, crop):
    import cv2

    w, h = size
    x0, y0, scale, flip = crop
    ph, pw = photo.shape[:2]
    fit = max(w / pw, h / ph) * scale  # cover the frame, then zoom in
    resized = cv2.resize(photo, (max(w, int(round(pw * fit))), max(h, int(round(ph * fit)))), interpolation=cv2.INTER_AREA)
    ox, oy = int(x0 * (resized.shape[1] - w)), int(y0 * (resized.shape[0] - h))
    out = resized[oy:oy + h, ox:ox + w]
    return out[:, ::-1].copy() if flip else out.copy()


class Compositor:
    """Body (RGBA render) over the background, the occluder in front, then the camera's flaws."""

    def __init__(self, look: Look, size, rng):
        import cv2

        self.look, self.size = look, size
        self.background = background_image(look, size, rng).astype(np.float32)
        self.occluder_mask = None
        if look.occluder is not None:
            w, h = size
            x0, y0, x1, y1 = look.occluder["box"]
            mask = np.zeros((h, w), np.float32)
            mask[max(0, int(y0)):max(0, int(y1)), max(0, int(x0)):max(0, int(x1))] = 1.0
            self.occluder_mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
            if look.occluder["colour"] is not None:
                shade = np.linspace(0.8, 1.1, h, dtype=np.float32)[:, None, None]
                self.occluder = np.array(look.occluder["colour"][::-1], np.float32) * 255 * shade * np.ones((h, w, 3), np.float32)
            else:
                self.occluder = _crop(cv2.imread(look.occluder["background"]), size, (0.3, 0.6, 1.5, False)).astype(np.float32)
        self.rng = rng

    def __call__(self, rgba) -> np.ndarray:
        """rgba (H, W, 4) uint8 from Blender (straight alpha, BGR order as cv2 reads it) -> BGR uint8."""
        import cv2

        look = self.look
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        img = rgba[..., :3].astype(np.float32) * alpha + self.background * (1 - alpha)
        if self.occluder_mask is not None:
            img = self.occluder * self.occluder_mask + img * (1 - self.occluder_mask)
        img = (img - 128.0) * look.contrast + 128.0
        img = img * look.brightness * look.white_balance[::-1]
        if look.blur_sigma > 0:
            img = cv2.GaussianBlur(img, (0, 0), look.blur_sigma)
        if look.noise_sigma > 0:
            img = img + self.rng.normal(0.0, look.noise_sigma, img.shape)
        img = np.clip(img, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
