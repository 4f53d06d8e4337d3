"""The main jobs: a video into a result file, and re-solving a frame range of a result file.

run_video:      probe -> detect (parallel streaming chunks) -> main person -> solve -> save
refine_result:  load -> solver.refine_range on [start, end] -> splice -> save

Both write atomically (``MotionResult.save``) and check for cancellation before writing, so a
cancelled or failed job never leaves a result file behind. Frame numbers are source-video
frame numbers; ``end`` is inclusive (as Blender frame ranges are).
"""
import dataclasses
import importlib
import logging
import math
import os
import threading
import time

import numpy as np

from backend import camera_motion, detect, track, video
from backend.checkpoints import check_checkpoint_file
from backend.device import resolve_device
from backend.errors import BODY_MODEL_HINT, BackendError, Cancelled
from backend.output import check_output
from smplcore.body_model_file import BodyModelError, load_body_model_file
from smplcore.result import MAX_ROTATION_ANGLE, MotionResult, ResultFileError, focal_length_range
from smplcore.protocol import CONTACT_MODES, FOOT_LOCK_MODES
from smplcore.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)

# Without a calibration we assume a 55° horizontal field of view: a typical phone main camera
# (26 mm equivalent is ~69° diagonal, ~62° horizontal) filming slightly zoomed, or a webcam.
DEFAULT_HORIZONTAL_FOV_DEG = 55.0


def default_focal_length(image_width: int) -> float:
    """Focal length in pixels for :data:`DEFAULT_HORIZONTAL_FOV_DEG`."""
    return 0.5 * image_width / math.tan(math.radians(DEFAULT_HORIZONTAL_FOV_DEG) / 2)


def _solver():
    try:
        return importlib.import_module("backend.solver")
    except ModuleNotFoundError as exc:
        if exc.name != "backend.solver":
            raise
        raise BackendError("internal", "this backend has no solver (backend/solver.py is missing)",
                           "update the add-on: the installation is incomplete") from exc


def _checked_inputs(device, body_model, checkpoint, defer_auto=False):
    """Fail before the slow stages on every input that can be checked at once: the body model
    is read and validated (numpy only), the checkpoint must at least be a torch archive (its
    full load runs with the models, and a failure there stops detection at once). With
    ``defer_auto``, "auto" stays unresolved (resolving it imports torch, which can happen in
    the background)."""
    if body_model is not None:
        try:
            load_body_model_file(body_model)
        except BodyModelError as exc:
            raise BackendError("bad_body_model", str(exc), BODY_MODEL_HINT) from exc
    if checkpoint is not None:
        check_checkpoint_file(checkpoint)
    if defer_auto and (device or "auto").strip().lower() == "auto":
        return "auto"
    return resolve_device(device)


class _SolverPreload:
    """Import torch, resolve the device and load the models in a thread while the video is
    detected: seconds on a cold start that would otherwise come after detection. The job takes
    them from here; an error met here is raised to the job as it would have been met there."""

    def __init__(self, device, body_model, checkpoint):
        self._args = (device, body_model, checkpoint)
        self._loaded = self._error = None
        self._thread = threading.Thread(target=self._load, name="preload-solver", daemon=True)
        self._thread.start()

    def _load(self):
        device, body_model, checkpoint = self._args
        try:
            device = resolve_device(device)
            solver = _solver()
            solver.load_models(body_model, checkpoint, device)
            self._loaded = solver, device
        except BaseException as exc:  # noqa: BLE001 - handed to the job in get()
            self._error = exc

    @property
    def failed(self) -> bool:
        return self._error is not None

    def get(self):
        """``(solver module, device)`` once loaded."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._loaded


def preload_models(device="auto", body_model=None, checkpoint=None):
    """Load the solver's models now: a long-lived worker does this once, and every job it runs
    afterwards in this process finds them loaded. ``(solver module, device)``."""
    return _SolverPreload(_checked_inputs(device, body_model, checkpoint, defer_auto=True), body_model, checkpoint).get()


class _Reporter:
    """Adapts ``progress(stage, done, total)`` and the cancel event for the stages; ``abort()``
    (optional) stops them too, e.g. when the models failed to load while detecting."""

    def __init__(self, progress, cancel, abort=None):
        self._progress = progress
        self._cancel = cancel
        self._abort = abort

    def __call__(self, stage, done, total):
        if self._progress is not None:
            self._progress(stage, int(done), int(total))

    def should_cancel(self) -> bool:
        return (self._cancel is not None and self._cancel.is_set()) or (self._abort is not None and self._abort())

    def check(self):
        if self.should_cancel():
            raise Cancelled()

    def stage(self, name):
        return lambda done, total: self(name, done, total)


def detect_person(video_path, start=None, end=None, progress=None, cancel=None, abort=None):
    """Decode + detect + pick the main person: ``(info, detections, keypoints, valid)``.

    ``keypoints`` are the detections with every frame not showing the main person zeroed.
    """
    report = _Reporter(progress, cancel, abort)
    info = video.probe(video_path)
    first, stop = video.frame_range(info, start, end)
    started = time.perf_counter()
    detections = detect.detect_video(info, first, stop, progress=report.stage("detect"),
                                     should_cancel=report.should_cancel)
    seconds = time.perf_counter() - started
    valid, tracklets, chain = track.select_main_person(detections.keypoints, detections.found, info.fps)
    log.info("detected %d/%d frames in %.1f s (%.1f frames/s); %d tracklet(s), main person on %d frames",
             int(detections.found.sum()), detections.num_frames, seconds, detections.num_frames / max(seconds, 1e-9),
             len(tracklets), int(valid.sum()))
    if not valid.any():
        raise BackendError("no_person", f"no person was detected in frames {int(detections.frame_index[0])}"
                           f"..{int(detections.frame_index[-1])} of {os.path.basename(info.path)}",
                           "the whole body should be visible, reasonably large and lit; check the frame range")
    keypoints = np.where(valid[:, None, None], detections.keypoints, 0.0).astype(np.float32)
    return info, detections, keypoints, valid


def run_video(video_path, out, start=None, end=None, device="auto", body_model=None, checkpoint=None,
              focal=None, progress=None, cancel=None, overwrite=False, foot_lock="auto") -> MotionResult:
    """Video in, validated result file out (see the module docstring). A static camera gets a
    floor and ``cam_to_world``; a moving one keeps the camera frame and says so (``world_note``)."""
    report = _Reporter(progress, cancel)
    _check_choice("foot_lock", foot_lock, FOOT_LOCK_MODES)
    out = check_output(out, (video_path, body_model, checkpoint), overwrite)
    width = video.probe(video_path).width  # an unreadable video fails before anything is loaded
    if focal is not None:
        low, high = focal_length_range(width)
        if not (math.isfinite(focal) and low <= focal <= high):
            raise BackendError("bad_request", f"focal length {focal} px is implausible for a video {width} px wide "
                               f"(expected {low:.0f}..{high:.0f} px)",
                               "give the focal length in pixels, or leave --focal out to assume a 55 degree "
                               "horizontal field of view")
    device = _checked_inputs(device, body_model, checkpoint, defer_auto=True)
    preload = _SolverPreload(device, body_model, checkpoint)
    try:
        info, detections, keypoints, valid = detect_person(video_path, start, end, progress, cancel,
                                                           abort=lambda: preload.failed)
    except Cancelled:
        if preload.failed:
            preload.get()  # raises the model-loading error that stopped detection
        raise
    motion = camera_motion.measure(video_path, detections.frame_index, keypoints)
    if motion.moving:
        log.warning("%s: no floor, the result stays in the camera frame", motion.describe())
    solver, device = preload.get()
    focal = float(focal) if focal is not None else default_focal_length(info.width)
    report.check()
    solution = solver.solve_sequence(
        keypoints, image_size=info.image_size, focal_length=focal, fps=info.fps, device=device,
        body_model_path=body_model, checkpoint_path=checkpoint, progress=report,
        should_cancel=report.should_cancel,
        world_landmarks=np.where(valid[:, None, None], detections.world, 0.0).astype(np.float32),
        find_floor=not motion.moving, foot_lock=foot_lock)
    note = f"{motion.describe()}: no floor, the motion is in the camera frame" if motion.moving \
        else solution["world_note"]
    result = MotionResult(
        poses=np.asarray(solution["poses"], np.float32), trans=np.asarray(solution["trans"], np.float32),
        betas=np.asarray(solution["betas"], np.float32), mocap_framerate=info.fps,
        frame_index=detections.frame_index, valid=valid, keypoints_2d=keypoints, focal_length=focal,
        image_size=np.asarray(info.image_size, np.int64), body_model=str(solution["body_model_id"]),
        cam_to_world=solution["cam_to_world"], world_note=note)
    report.check()
    _save(result, out)
    return result


def _check_choice(name, value, choices):
    if value not in choices:
        raise BackendError("bad_request", f"{name} must be one of {', '.join(choices)}, got {value!r}",
                           f"use {name} {' | '.join(choices)}")


def _fixed_poses(fixed, frames_in_range) -> dict[int, np.ndarray]:
    """Validate user-fixed poses: ``{frame: (72,) axis-angle}`` inside the refined range."""
    checked = {}
    for frame, pose in (fixed or {}).items():
        try:
            frame = int(frame)
            pose = np.asarray(pose, np.float64).reshape(NUM_JOINTS * 3)
        except (TypeError, ValueError) as exc:
            raise BackendError("bad_request", f"fixed pose for frame {frame!r} is not {NUM_JOINTS * 3} numbers",
                               "send axis-angle poses as lists of 72 floats") from exc
        if frame not in frames_in_range:
            raise BackendError("bad_request", f"fixed frame {frame} is outside the refined range",
                               "fix only frames inside start..end")
        angles = np.linalg.norm(pose.reshape(NUM_JOINTS, 3), axis=-1)
        if not np.all(np.isfinite(pose)) or angles.max() > MAX_ROTATION_ANGLE:
            raise BackendError("bad_request", f"fixed pose for frame {frame} is not a rotation: every joint's "
                               f"axis-angle must be finite and at most {MAX_ROTATION_ANGLE:.2f} rad",
                               "send the keyed poses as axis-angle (radians)")
        checked[frame] = pose
    return checked


def refine_result(result_path, out, start, end, fixed=None, device="auto", body_model=None, checkpoint=None,
                  progress=None, cancel=None, overwrite=False, contacts="auto") -> MotionResult:
    """Re-solve source frames ``start..end`` (inclusive) of a result; every other frame is unchanged.

    ``fixed`` maps frame numbers to axis-angle poses (72,) the refined motion must pass through.
    ``contacts`` (results with a floor): auto, force (the lower foot planted on every frame of the
    range) or free (no foot planted there).
    """
    report = _Reporter(progress, cancel)
    _check_choice("contacts", contacts, CONTACT_MODES)
    out = check_output(out, (result_path, body_model, checkpoint), overwrite)
    device = _checked_inputs(device, body_model, checkpoint)
    result = MotionResult.load(result_path)  # ResultFileError -> bad_result via as_backend_error
    start, end = int(start), int(end)
    rows = (result.frame_index >= start) & (result.frame_index <= end)
    if end < start or not rows.any():
        raise BackendError("bad_request", f"frames {start}..{end} are not in the result "
                           f"(it holds {int(result.frame_index[0])}..{int(result.frame_index[-1])})",
                           "choose a frame range inside the imported motion")
    fixed = _fixed_poses(fixed, set(result.frame_index[rows].tolist()))
    solver = _solver()
    refined = solver.refine_range(result, start, end, fixed, device=device, body_model_path=body_model,
                                  checkpoint_path=checkpoint, progress=report, should_cancel=report.should_cancel,
                                  contacts=contacts)
    count = int(rows.sum())
    poses = np.asarray(refined["poses"], np.float32)
    trans = np.asarray(refined["trans"], np.float32)
    if poses.shape != (count, NUM_JOINTS * 3) or trans.shape != (count, 3):
        raise BackendError("internal", f"the solver returned poses {poses.shape} and trans {trans.shape} "
                           f"for a range of {count} frames", "this is a bug: please report it with the backend log")
    updated = dataclasses.replace(result, poses=result.poses.astype(np.float32), trans=result.trans.astype(np.float32))
    updated.poses[rows] = poses
    updated.trans[rows] = trans
    report.check()
    _save(updated, out)
    return updated


def _save(result, out):
    """Write a result this backend made; failing validation here is a bug, not a bad input file."""
    try:
        result.save(out)
    except ResultFileError as exc:
        raise BackendError("internal", f"the backend produced an invalid result: {exc}",
                           "this is a bug: please report it with the backend log") from exc
