"""The result file: the contract between the backend and the add-on (DESIGN §6).

One AMASS-like ``.npz`` per person track. Validated on write and on read; every problem is
reported with the field's name and what was expected, so a user can tell a broken file from
a file written by another tool.
"""
import os
from dataclasses import dataclass, field

import numpy as np

from .atomic import write_atomically
from .skeleton import NUM_JOINTS, NUM_LANDMARKS

RESULT_VERSION = 3   # 2: optional cam_to_world and world_note; 3: optional hand_poses, hand_valid
NUM_BETAS = 10
NUM_HAND_JOINTS = 15  # per hand, SMPL-H order (index, middle, pinky, ring, thumb; 3 each)


# Bounds of a plausible result; each failure names the field and its range.
MAX_FRAME_INDEX = 10_000_000     # frame numbers: ~93 hours at 30 fps
MIN_FPS, MAX_FPS = 1.0, 1000.0   # mocap_framerate in (MIN_FPS, MAX_FPS]
MAX_ABS_BETA = 10.0              # shape coefficients are standard deviations; +-10 is already a caricature
MAX_ROTATION_ANGLE = 2 * np.pi + 1e-3  # per joint, axis-angle (solvers and Blender give at most pi)
MAX_IMAGE_SIDE = 32768           # pixels
MIN_FOV_DEG, MAX_FOV_DEG = 1.0, 170.0  # horizontal field of view a focal length may imply


def focal_length_range(image_width: int) -> tuple[float, float]:
    """Plausible focal lengths in pixels for an image ``image_width`` wide (170 to 1 degree wide)."""
    half = 0.5 * image_width
    return half / np.tan(np.radians(MAX_FOV_DEG) / 2), half / np.tan(np.radians(MIN_FOV_DEG) / 2)


class ResultFileError(ValueError):
    """A result file that is missing, unreadable or does not follow the schema."""


@dataclass
class MotionResult:
    poses: np.ndarray            # (T, 72) axis-angle: global orient + 23 joints, camera frame
    trans: np.ndarray            # (T, 3) metres, OpenCV camera frame
    betas: np.ndarray            # (10,) shared over the track
    mocap_framerate: float
    frame_index: np.ndarray      # (T,) source video frame numbers
    valid: np.ndarray            # (T,) False where the person was not observed
    keypoints_2d: np.ndarray     # (T, 33, 3) pixels + confidence (MediaPipe order)
    focal_length: float          # pixels
    image_size: np.ndarray       # (2,) width, height in pixels
    body_model: str              # id of the body model the poses were solved on
    version: int = RESULT_VERSION
    # optional: camera pose in a world with Z up and the floor at z = 0, metres, (4, 4) or
    # (T, 4, 4): x_world = cam_to_world @ [x_cam; 1]. None when unknown (e.g. a moving camera)
    cam_to_world: np.ndarray | None = None
    world_note: str = ""         # why there is no cam_to_world, or why the person does not stand on its floor
    #                              (one world for a shot's people); shown to the user; else empty
    # optional: fingers, axis-angle relative to their parents, (T, 90) = left 15 joints then
    # right 15 in SMPL-H order; hand_valid (T, 2) left, right: False where a hand was not seen
    hand_poses: np.ndarray | None = None
    hand_valid: np.ndarray | None = None
    # optional: MediaPipe's world landmarks (T, 33, 3), metres, hip-centred, zero where none: the
    # 3D evidence the solve used, kept so that Refine uses it too
    world_landmarks: np.ndarray | None = None
    extras: dict = field(default_factory=dict)  # optional arrays other tools may add

    @property
    def num_frames(self) -> int:
        return int(self.poses.shape[0])

    def validate(self) -> "MotionResult":
        t = self.poses.shape[0] if np.ndim(self.poses) == 2 else -1
        _check(self.poses, (t, NUM_JOINTS * 3), "poses", np.floating)
        _check(self.trans, (t, 3), "trans", np.floating)
        _check(self.betas, (NUM_BETAS,), "betas", np.floating)
        _check(self.frame_index, (t,), "frame_index", np.integer)
        _check(self.valid, (t,), "valid", np.bool_)
        _check(self.keypoints_2d, (t, NUM_LANDMARKS, 3), "keypoints_2d", np.floating)
        _check(self.image_size, (2,), "image_size", np.integer)
        if t < 1:
            raise ResultFileError("the result holds no frames (poses has length 0)")
        for name in ("poses", "trans", "betas", "keypoints_2d"):
            _check_finite(getattr(self, name), name)
        angles = np.linalg.norm(np.asarray(self.poses, np.float64).reshape(t, NUM_JOINTS, 3), axis=-1)
        if angles.max() > MAX_ROTATION_ANGLE:
            raise ResultFileError(f"'poses' holds a rotation of {angles.max():.3g} rad; expected axis-angle "
                                  f"rotations of at most {MAX_ROTATION_ANGLE:.2f} rad (2 pi)")
        if np.abs(self.betas).max() > MAX_ABS_BETA:
            raise ResultFileError(f"'betas' reaches {np.abs(self.betas).max():.3g}; expected values within "
                                  f"+-{MAX_ABS_BETA:g} (body shape coefficients)")
        if self.frame_index[0] < 0 or self.frame_index[-1] > MAX_FRAME_INDEX:
            raise ResultFileError(f"'frame_index' runs {int(self.frame_index[0])}..{int(self.frame_index[-1])}; "
                                  f"expected source frame numbers in 0..{MAX_FRAME_INDEX}")
        if np.any(np.diff(self.frame_index) <= 0):
            raise ResultFileError("'frame_index' must be strictly increasing")
        if not self.valid.any():
            raise ResultFileError("'valid' is False on every frame: the person was never observed")
        if not (MIN_FPS < self.mocap_framerate <= MAX_FPS):
            raise ResultFileError(f"'mocap_framerate' is {self.mocap_framerate}; expected frames per second "
                                  f"in ({MIN_FPS:g}, {MAX_FPS:g}]")
        if np.any(self.image_size <= 0) or np.any(self.image_size > MAX_IMAGE_SIDE):
            raise ResultFileError(f"'image_size' is {self.image_size.tolist()}; expected width and height "
                                  f"in 1..{MAX_IMAGE_SIDE} pixels")
        low, high = focal_length_range(int(self.image_size[0]))
        if not (low <= self.focal_length <= high):
            raise ResultFileError(f"'focal_length' is {self.focal_length} px; expected {low:.1f}..{high:.0f} px for "
                                  f"an image {int(self.image_size[0])} px wide (a horizontal field of view of "
                                  f"{MAX_FOV_DEG:g} to {MIN_FOV_DEG:g} degrees)")
        if self.cam_to_world is not None:
            _check_rigid(self.cam_to_world, t)
        if (self.hand_poses is None) != (self.hand_valid is None):
            raise ResultFileError("'hand_poses' and 'hand_valid' come together: one is missing")
        if self.hand_poses is not None:
            _check(self.hand_poses, (t, 2 * NUM_HAND_JOINTS * 3), "hand_poses", np.floating)
            _check(self.hand_valid, (t, 2), "hand_valid", np.bool_)
            _check_finite(self.hand_poses, "hand_poses")
        if self.world_landmarks is not None:
            _check(self.world_landmarks, (t, NUM_LANDMARKS, 3), "world_landmarks", np.floating)
            _check_finite(self.world_landmarks, "world_landmarks")
        if not self.body_model:
            raise ResultFileError("'body_model' is empty: the result must name its body model")
        if not 1 <= self.version:
            raise ResultFileError(f"'version' is {self.version}; expected 1..{RESULT_VERSION}")
        if self.version > RESULT_VERSION:
            raise ResultFileError(
                f"result version {self.version} is newer than this add-on understands "
                f"({RESULT_VERSION}): update the add-on")
        return self

    def save(self, path) -> None:
        """Validate, then write atomically (a crash never leaves a half-written file)."""
        self.validate()
        arrays = dict(
            poses=self.poses.astype(np.float32), trans=self.trans.astype(np.float32),
            betas=self.betas.astype(np.float32), mocap_framerate=np.float64(self.mocap_framerate),
            frame_index=self.frame_index.astype(np.int64), valid=self.valid.astype(bool),
            keypoints_2d=self.keypoints_2d.astype(np.float32),
            focal_length=np.float64(self.focal_length), image_size=self.image_size.astype(np.int64),
            body_model=np.str_(self.body_model), version=np.int64(self.version),
            gender=np.str_("neutral"),  # AMASS readers expect it
        )
        if self.cam_to_world is not None:
            arrays["cam_to_world"] = np.asarray(self.cam_to_world, np.float32)
        if self.world_note:
            arrays["world_note"] = np.str_(self.world_note)
        if self.hand_poses is not None:
            arrays["hand_poses"] = np.asarray(self.hand_poses, np.float32)
            arrays["hand_valid"] = np.asarray(self.hand_valid, bool)
        if self.world_landmarks is not None:
            arrays["world_landmarks"] = np.asarray(self.world_landmarks, np.float32)
        arrays.update({k: np.asarray(v) for k, v in self.extras.items()})
        write_atomically(path, lambda fh: np.savez(fh, **arrays))

    @classmethod
    def load(cls, path) -> "MotionResult":
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ResultFileError(f"result file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:  # never unpickle: files are shared
                arrays = {k: _read_plain(data, k, path) for k in data.files}
        except ResultFileError:
            raise
        except Exception as exc:  # zip/npy errors come in many types
            raise ResultFileError(f"cannot read {path} as a .npz result file: {exc}") from exc
        missing = [k for k in _REQUIRED if k not in arrays]
        if missing:
            raise ResultFileError(f"{os.path.basename(path)} is not a ScoreHMR result: missing {', '.join(missing)}")
        known = set(_REQUIRED) | {"gender", "cam_to_world", "world_note", "hand_poses", "hand_valid", "world_landmarks"}
        return cls(
            poses=arrays["poses"], trans=arrays["trans"], betas=arrays["betas"],
            mocap_framerate=_scalar(arrays, "mocap_framerate", np.number, float),
            frame_index=arrays["frame_index"], valid=arrays["valid"], keypoints_2d=arrays["keypoints_2d"],
            focal_length=_scalar(arrays, "focal_length", np.number, float), image_size=arrays["image_size"],
            body_model=_scalar(arrays, "body_model", np.str_, str),
            version=_scalar(arrays, "version", np.integer, int),
            cam_to_world=arrays.get("cam_to_world"), world_note=str(arrays.get("world_note", "")),
            hand_poses=arrays.get("hand_poses"), hand_valid=arrays.get("hand_valid"),
            world_landmarks=arrays.get("world_landmarks"),
            extras={k: v for k, v in arrays.items() if k not in known},
        ).validate()


def is_result_file(path) -> bool:
    """Whether ``path`` is a .npz holding the result keys (cheap: reads the zip directory only)."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            return isinstance(data, np.lib.npyio.NpzFile) and all(k in data.files for k in _REQUIRED)
    except Exception:  # not a zip, not readable, a folder ...: not a result file
        return False


_REQUIRED = ("poses", "trans", "betas", "mocap_framerate", "frame_index", "valid",
             "keypoints_2d", "focal_length", "image_size", "body_model", "version")


def _scalar(arrays, key, kind, convert):
    """One value stored as a 0-d (or 1-element) array of the expected kind."""
    value = np.asarray(arrays[key])
    if value.size != 1 or value.ndim > 1 or not np.issubdtype(value.dtype, kind):
        what = {np.number: "a number", np.integer: "an integer", np.str_: "a string"}[kind]
        raise ResultFileError(f"'{key}' must be {what} (one value), got {value.dtype} with shape {value.shape}")
    return convert(value.reshape(()))


def _read_plain(data, key, path):
    try:
        return data[key]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise ResultFileError(f"{os.path.basename(path)}: '{key}' holds pickled Python objects; refusing to read "
                              "it (result files hold plain numeric and text arrays only)") from exc


def _check(array, shape, name, kind):
    array = np.asarray(array)
    if array.ndim != len(shape) or any(want >= 0 and got != want for got, want in zip(array.shape, shape)):
        want = "(" + ", ".join("T" if s < 0 else str(s) for s in shape) + ")"
        raise ResultFileError(f"'{name}' has shape {array.shape}, expected {want}")
    if not np.issubdtype(array.dtype, kind):
        raise ResultFileError(f"'{name}' has dtype {array.dtype}, expected {np.dtype(kind).name}")


def _check_finite(array, name):
    if not np.all(np.isfinite(array)):
        raise ResultFileError(f"'{name}' contains NaN or infinite values")


def _check_rigid(matrix, t):
    """cam_to_world: (4, 4) or (T, 4, 4), finite, a rotation and a translation (no scale)."""
    m = np.asarray(matrix)
    if m.shape not in ((4, 4), (t, 4, 4)) or not np.issubdtype(m.dtype, np.floating):
        raise ResultFileError(f"'cam_to_world' has shape {m.shape} and dtype {m.dtype}, expected float (4, 4) or (T, 4, 4)")
    _check_finite(m, "cam_to_world")
    m = m.reshape(-1, 4, 4).astype(np.float64)
    rot = m[:, :3, :3]
    if (np.abs(m[:, 3] - [0, 0, 0, 1]).max() > 1e-6
            or np.abs(rot @ np.swapaxes(rot, 1, 2) - np.eye(3)).max() > 1e-4 or np.any(np.linalg.det(rot) < 0)):
        raise ResultFileError("'cam_to_world' must be a rigid transform: a rotation, a translation and "
                              "a last row 0 0 0 1")
