"""The main jobs: a video into a result file, and re-solving a frame range of a result file.

run_video:      probe -> detect (parallel streaming chunks) -> main person -> solve -> save
refine_result:  load -> solver.refine_range on [start, end] -> splice -> save

Both write atomically (``MotionResult.save``) and check for cancellation before writing, so a
cancelled or failed job never leaves a result file behind. Frame numbers are source-video
frame numbers; ``end`` is inclusive (as Blender frame ranges are).
"""
import dataclasses
import importlib
import json
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
from backend.job import JobContext
from backend.models import ModelCache, Models
from backend.output import check_output, index_path, person_path, write_text_atomically
from backend.sides import consistent_sides
from smplcore.body_model_file import BodyModelError, load_body_model_file
from smplcore.result import MAX_ROTATION_ANGLE, MotionResult, ResultFileError, focal_length_range
from smplcore.protocol import CONTACT_MODES, FOOT_LOCK_MODES
from smplcore.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)

# Without a calibration we assume a 55° horizontal field of view: a typical phone main camera
# (26 mm equivalent is ~69° diagonal, ~62° horizontal) filming slightly zoomed, or a webcam.
DEFAULT_HORIZONTAL_FOV_DEG = 55.0
MIN_HEIGHT_M, MAX_HEIGHT_M = 0.5, 2.6   # a performer's height (``height``), for a plausibility check


def default_focal_length(image_width: int) -> float:
    """Focal length in pixels for :data:`DEFAULT_HORIZONTAL_FOV_DEG`."""
    return 0.5 * image_width / math.tan(math.radians(DEFAULT_HORIZONTAL_FOV_DEG) / 2)


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


class _ModelPreload:
    """Import torch, resolve the device and load the models in a thread while the video is
    detected: seconds on a cold start that would otherwise come after detection. The job takes
    them from here; an error met here is raised to the job as it would have been met there."""

    def __init__(self, cache: ModelCache, device, body_model, checkpoint):
        self._args = (cache, device, body_model, checkpoint)
        self._loaded = self._error = None
        self._thread = threading.Thread(target=self._load, name="preload-models", daemon=True)
        self._thread.start()

    def _load(self):
        cache, device, body_model, checkpoint = self._args
        try:
            importlib.import_module("backend.solver")  # torch and the engine's imports, here too
            self._loaded = cache.get(body_model, checkpoint, resolve_device(device))
        except BaseException as exc:  # noqa: BLE001 - handed to the job in get()
            self._error = exc

    @property
    def failed(self) -> bool:
        return self._error is not None

    def get(self) -> Models:
        """The loaded models."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._loaded


def preload_models(cache: ModelCache, device="auto", body_model=None, checkpoint=None) -> Models:
    """Load the models into ``cache`` now: a long-lived worker does this once, and every job it
    runs afterwards with that cache finds them loaded."""
    return _ModelPreload(cache, _checked_inputs(device, body_model, checkpoint, defer_auto=True), body_model,
                         checkpoint).get()


MAX_PEOPLE = 4              # detection passes with --person all (one more person each)
MIN_TRACK_SECONDS = 0.5     # further tracks shorter than this are not written
PERSON_CHOICES = ("main", "all")


def parse_person(value):
    """``"main"``, ``"all"`` or a person number (0 = main), from the CLI or a request."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        if value in PERSON_CHOICES:
            return value
        if value.isdigit():
            return int(value)
    raise BackendError("bad_request", f"person must be main, all or a person number, got {value!r}",
                       "use --person main (default), --person all, or --person N with N from the persons index")


def _hide_boxes(passes, total):
    """(T, K, 4) boxes of everyone found so far, grown by 20 % (hair, hands, loose clothes)."""
    boxes = np.full((total, len(passes), 4), np.nan, np.float32)
    for k, found in enumerate(passes):
        box = track.landmark_boxes(found.keypoints)
        grow = 0.2 * np.concatenate([box[:, 2:] - box[:, :2]] * 2, axis=1) * [-1, -1, 1, 1]
        rows = found.found[:total]
        boxes[:len(rows)][rows, k] = (box + grow)[rows]
    return boxes


def _padded(detections, total):
    """A later pass over a truncated file may stop early: pad it to the first pass's rows."""
    missing = total - detections.num_frames
    if missing <= 0:
        return detections
    pad = lambda a: np.concatenate([a, np.zeros((missing,) + a.shape[1:], a.dtype)])  # noqa: E731
    return dataclasses.replace(detections, keypoints=pad(detections.keypoints), world=pad(detections.world),
                               found=pad(detections.found), appearance=pad(detections.appearance))


def detect_people(video_path, start=None, end=None, job: JobContext | None = None, everyone=False, max_gap=None,
                  thumbnails=None, info: video.VideoInfo | None = None):
    """Decode + detect + identify: ``(info, detections of the first pass, persons main first)``.

    With ``everyone``, further passes paint out the people found so far (``detect.hidden``) and
    find the next one, until a pass finds nobody new or MAX_PEOPLE passes ran. ``thumbnails``
    (``camera_motion.Thumbnails``) collects frames from the first pass; ``info``: the video's
    ``video.probe``, when the caller has it already."""
    job = job or JobContext()
    info = info or video.probe(video_path)
    first, stop = video.frame_range(info, start, end)
    started = time.perf_counter()
    passes = [detect.detect_video(info, first, stop, job=job, thumbnails=thumbnails)]
    total = passes[0].num_frames
    while everyone and len(passes) < MAX_PEOPLE:
        extra = detect.detect_video(info, first, first + total, job=job, hide=_hide_boxes(passes, total),
                                    stage="detect_others")
        extra = _padded(extra, total)
        if extra.found.sum() < MIN_TRACK_SECONDS * info.fps:
            break
        passes.append(extra)
    seconds = time.perf_counter() - started
    people = track.identify_people(passes, info.fps, track.MAX_GAP_SECONDS if max_gap is None else max_gap)
    people, passes[0], info = _at_constant_rate(passes[0], people, info)
    log.info("detected %d pass(es) over %d frames in %.1f s; %d person(s)%s", len(passes), total, seconds,
             len(people), f", main person on {int(people[0].valid.sum())} frames" if people else "")
    if not people:
        raise BackendError("no_person", f"no person was detected in frames {int(passes[0].frame_index[0])}"
                           f"..{int(passes[0].frame_index[-1])} of {os.path.basename(info.path)}",
                           "the whole body should be visible, reasonably large and lit; check the frame range")
    return info, passes[0], people


def _at_constant_rate(detections, people, info):
    """A variable-frame-rate clip is resampled to a constant grid at its nominal rate (the rate
    Blender's movie clip plays it at) from its presentation times: the frame on screen at each grid
    time, so keys and the video stay in step. Frame numbers then count grid frames and
    ``source_frame`` names the decoded frame each came from. Returns (people, detections, info)."""
    resampled = video.constant_rate(detections.time_ms) if detections.time_ms is not None else None
    if resampled is None:
        return people, detections, info
    rows, grid, fps = resampled
    log.warning("%s has a variable frame rate: %d decoded frames resampled to %d frames at a constant %.3f fps",
                os.path.basename(info.path), detections.num_frames, len(grid), fps)
    info = dataclasses.replace(info, fps=fps)
    pick = lambda a: None if a is None else a[rows]  # noqa: E731
    for someone in people:
        someone.keypoints, someone.world, someone.valid = pick(someone.keypoints), pick(someone.world), pick(someone.valid)
    detections = dataclasses.replace(
        detections, keypoints=pick(detections.keypoints), world=pick(detections.world), found=pick(detections.found),
        appearance=pick(detections.appearance), time_ms=pick(detections.time_ms), frame_index=grid.astype(np.int64),
        source_frame=detections.frame_index[rows])
    return [p for p in people if p.valid.any()], detections, info


def detect_person(video_path, start=None, end=None, job: JobContext | None = None):
    """The main person only: ``(info, detections, keypoints, valid)``, keypoints zero elsewhere."""
    info, detections, people = detect_people(video_path, start, end, job)
    return info, detections, people[0].keypoints, people[0].valid


def _chosen_people(people, person, fps):
    """The persons to write; numbers count the main person and the tracks long enough to report."""
    if person == "main":
        return [people[0]]
    reported = [people[0]] + [p for p in people[1:] if p.valid.sum() >= MIN_TRACK_SECONDS * fps]
    if person == "all":
        return reported
    if person >= len(reported):
        raise BackendError("bad_request", f"there is no person {person}: the video shows {len(reported)} "
                           f"(0..{len(reported) - 1})", "run with --person all to list them in the index file")
    return [reported[person]]


class _HandDetection:
    """Hand landmarks of each chosen person, detected in a thread while the bodies are solved
    (they need only the pose)."""

    def __init__(self, info, source_frames, people, job):
        from backend import hand_detect

        self._results, self._error = [], None

        def work():
            try:
                for someone in people:
                    self._results.append(hand_detect.detect_hands(
                        info, source_frames, someone.keypoints, someone.valid, job=job))
            except BaseException as exc:  # noqa: BLE001 - handed to the job in get()
                self._error = exc

        self._thread = threading.Thread(target=work, name="detect-hands", daemon=True)
        self._thread.start()

    def get(self, number, rows):
        """The hands of chosen person ``number`` on result rows ``rows``."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._results[number].rows(rows)


def run_video(video_path, out, start=None, end=None, device="auto", body_model=None, checkpoint=None,
              focal=None, job: JobContext | None = None, overwrite=False, foot_lock="auto", person="main",
              max_gap=None, publish_as=None, hands=False, height=None,
              model_cache: ModelCache | None = None) -> MotionResult:
    """Video in, validated result file(s) out (see the module docstring); the main (or chosen)
    person's result is returned. A static camera gets a floor and ``cam_to_world`` (one world for
    everyone with ``person="all"``, see ``_in_one_world``); a moving one keeps the camera frame
    and says so (``world_note``). ``publish_as``: the name ``out`` will be
    renamed to, for the file names in the persons index (``serve`` writes a temporary file first).
    ``hands``: also detect and solve the fingers (``hand_poses``, ``hand_valid``); off, nothing of
    it runs. ``height``: the main person's height in metres (None: estimated with the shape;
    given, it fixes the body's size and so its distance). ``model_cache``: where the models come
    from (None: loaded for this job only)."""
    job = job or JobContext()
    _check_choice("foot_lock", foot_lock, FOOT_LOCK_MODES)
    person = parse_person(person)
    out = check_output(out, (video_path, body_model, checkpoint), overwrite)
    probed = video.probe(video_path)  # an unreadable video or a bad range fails before anything is loaded
    first, stop = video.frame_range(probed, start, end)
    width = probed.width
    if height is not None and not (math.isfinite(height) and MIN_HEIGHT_M <= height <= MAX_HEIGHT_M):
        raise BackendError("bad_request", f"a performer {height} m tall is implausible "
                           f"(expected {MIN_HEIGHT_M}..{MAX_HEIGHT_M} m)",
                           "give the height in metres (e.g. 1.75), or leave it out to estimate it")
    if focal is not None:
        low, high = focal_length_range(width)
        if not (math.isfinite(focal) and low <= focal <= high):
            raise BackendError("bad_request", f"focal length {focal} px is implausible for a video {width} px wide "
                               f"(expected {low:.0f}..{high:.0f} px)",
                               "give the focal length in pixels, or leave --focal out to assume a 55 degree "
                               "horizontal field of view")
    device = _checked_inputs(device, body_model, checkpoint, defer_auto=True)
    preload = _ModelPreload(model_cache or ModelCache(), device, body_model, checkpoint)
    try:
        with job.stopped_by(lambda: preload.failed):
            thumbnails = camera_motion.Thumbnails(first, None if stop is None else stop - first)
            info, detections, people = detect_people(video_path, start, end, job, everyone=person != "main",
                                                     max_gap=max_gap, thumbnails=thumbnails, info=probed)
    except Cancelled:
        if preload.failed:
            preload.get()  # raises the model-loading error that stopped detection
        raise
    chosen = _chosen_people(people, person, info.fps)
    for someone in chosen:  # the detector's left/right swaps undone once: the bodies and the hands use them
        someone.keypoints, someone.world, swapped = consistent_sides(someone.keypoints, someone.world, info.fps,
                                                                     someone.valid)
        if swapped.any():
            log.info("left/right labels swapped back on %d of %d frames", int(swapped.any(1).sum()), len(swapped))
    decoded = detections.frame_index if detections.source_frame is None else detections.source_frame
    # a moving camera keeps the solver's camera-frame motion (from frames detection kept: no second decoding)
    motion = camera_motion.measure(thumbnails, dict(zip(decoded.tolist(), chosen[0].keypoints)))
    if motion.moving:
        log.warning("%s: no floor, the result stays in the camera frame", motion.describe())
    hand_detection = _HandDetection(info, decoded, chosen, job) if hands else None
    models = preload.get()
    from backend import solver
    focal = float(focal) if focal is not None else default_focal_length(info.width)

    def solve(number, gravity=None):
        """(rows, solution) of one person: the main person spans the whole range (as a
        single-person run always did), the others their own."""
        someone = chosen[number]
        seen = np.flatnonzero(someone.valid)
        rows = slice(None) if number == 0 else slice(seen[0], seen[-1] + 1)
        return rows, solver.solve_sequence(
            someone.keypoints[rows], image_size=info.image_size, focal_length=focal, fps=info.fps, models=models,
            job=job, world_landmarks=someone.world[rows], height=height if number == 0 else None,
            find_floor=not motion.moving, foot_lock=foot_lock, gravity=gravity)

    solved = []
    for number in range(len(chosen)):
        job.check()
        solved.append(solve(number))
    if len(chosen) > 1 and not motion.moving:
        solved = _in_one_world(solved, solve, job)
    results = []
    for number, (someone, (rows, solution)) in enumerate(zip(chosen, solved)):
        note = f"{motion.describe()}: no floor, the motion is in the camera frame" if motion.moving \
            else solution["world_note"]
        results.append(MotionResult(
            poses=np.asarray(solution["poses"], np.float32), trans=np.asarray(solution["trans"], np.float32),
            betas=np.asarray(solution["betas"], np.float32), mocap_framerate=info.fps,
            frame_index=detections.frame_index[rows], valid=someone.valid[rows], keypoints_2d=someone.keypoints[rows],
            focal_length=focal, image_size=np.asarray(info.image_size, np.int64),
            body_model=str(solution["body_model_id"]), cam_to_world=solution["cam_to_world"], world_note=note,
            world_landmarks=someone.world[rows],
            extras={} if detections.source_frame is None else {"source_frame": detections.source_frame[rows]}))
        if hand_detection is not None:
            _add_hands(results[-1], hand_detection.get(number, rows), models.body)
    job.check()
    paths = [out] + [check_output(person_path(out, k), (video_path, body_model, checkpoint), overwrite)
                     for k in range(1, len(results))]
    for result, path in zip(results, paths):
        _save(result, path)
    if person == "all":
        named = publish_as or out
        index = check_output(index_path(out), (video_path, body_model, checkpoint), overwrite)
        write_persons_index(index, info, [
            dict(person=k, file=os.path.basename(named if k == 0 else person_path(named, k)), main=k == 0,
                 someone=someone, frame_index=detections.frame_index) for k, someone in enumerate(chosen)])
    return results[0]


def _in_one_world(solved, solve, job):
    """Everyone one static camera films lives in one world: the floors found under each person
    give one gravity (``world.shared_gravity``); each person is solved again standing on it at
    their own level (the ground, a box top) — one whose own floor is that gravity keeps their
    solve — and every result gets the world of the lowest level, its origin under the main person.
    Someone with no level of their own is placed in it as solved (their ``world_note`` says so).
    With no floor under anyone, everyone stays in the camera frame. ``solved``: (rows, solution)
    per person; ``solve(number, gravity)``: one person's again."""
    from backend import world

    floors = [solution["floor"] for _, solution in solved if solution["floor"] is not None]
    if not floors:
        return solved
    gravity, used = world.shared_gravity(floors)
    log.info("one gravity for the shot from %d of %d people's floors (%s deg from theirs)", len(used), len(solved),
             ", ".join(f"{world.degrees_between(f.up, gravity):.1f}" for f in floors))
    again = []
    for number, (rows, solution) in enumerate(solved):
        job.check()
        own = solution["floor"]
        again.append((rows, solution) if own is not None and np.allclose(own.up, gravity) else solve(number, gravity))
    levels = [solution["floor"] for _, solution in again if solution["floor"] is not None]
    if not levels:   # nobody stands on a floor tilted so: as solved alone
        return solved
    lowest = max(levels, key=lambda f: f.height)   # the camera highest above it
    matrix = world.cam_to_world(lowest, origin=again[0][1]["origin"])
    for _, solution in again:
        if solution["floor"] is None:
            solution["world_note"] = (f"not standing on the shot's floor ({solution['no_floor']}): placed in its "
                                      f"world as solved")
        solution["cam_to_world"] = matrix
    return again


def _add_hands(result, hands, body):
    from backend.hand_solve import solve_hands

    result.hand_poses, result.hand_valid, result.poses = solve_hands(hands, result.poses, result.betas, body)
    log.info("hands found on %d (left) and %d (right) of %d frames", *result.hand_valid.sum(0), result.num_frames)


def write_persons_index(path, info, entries):
    """The ``--person all`` index (format in the README): one entry per person file."""
    persons = []
    for entry in entries:
        someone, frames = entry["someone"], entry["frame_index"]
        seen = frames[someone.valid]
        persons.append({"person": entry["person"], "file": entry["file"], "main": entry["main"],
                        "first_frame": int(seen[0]), "last_frame": int(seen[-1]), "frames": int(len(seen)),
                        "mean_box": someone.mean_box()})
    index = {"format": "scorehmr-persons", "version": 1, "video": os.path.basename(info.path),
             "fps": float(info.fps), "image_size": [int(info.width), int(info.height)], "persons": persons}
    write_text_atomically(path, json.dumps(index, indent=1) + "\n")


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
                  job: JobContext | None = None, overwrite=False, contacts="auto",
                  model_cache: ModelCache | None = None) -> MotionResult:
    """Re-solve source frames ``start..end`` (inclusive) of a result; every other frame is unchanged.

    ``fixed`` maps frame numbers to axis-angle poses (72,) the refined motion must pass through.
    ``contacts`` (results with a floor): auto, force (the lower foot planted on every frame of the
    range) or free (no foot planted there).
    """
    job = job or JobContext()
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
    from backend import solver

    models = (model_cache or ModelCache()).get(body_model, checkpoint, device)
    refined = solver.refine_range(result, start, end, fixed, models=models, job=job, contacts=contacts)
    count = int(rows.sum())
    poses = np.asarray(refined["poses"], np.float32)
    trans = np.asarray(refined["trans"], np.float32)
    if poses.shape != (count, NUM_JOINTS * 3) or trans.shape != (count, 3):
        raise BackendError("internal", f"the solver returned poses {poses.shape} and trans {trans.shape} "
                           f"for a range of {count} frames", "this is a bug: please report it with the backend log")
    updated = dataclasses.replace(result, poses=result.poses.astype(np.float32), trans=result.trans.astype(np.float32))
    updated.poses[rows] = poses
    updated.trans[rows] = trans
    job.check()
    _save(updated, out)
    return updated


def _save(result, out):
    """Write a result this backend made; failing validation here is a bug, not a bad input file."""
    try:
        result.save(out)
    except ResultFileError as exc:
        raise BackendError("internal", f"the backend produced an invalid result: {exc}",
                           "this is a bug: please report it with the backend log") from exc
