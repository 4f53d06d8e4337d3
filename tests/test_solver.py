"""The solver with the shipped trained prior: real weights on synthetic views of held-out motion."""
import os

import numpy as np
import pytest
import torch

from backend import solver
from backend.body_model import BodyModel
from backend.checkpoints import default_checkpoint_path, load_prior
from backend.condition import make_condition
from backend.scorehmr import ScoreHMRConfig
from backend.errors import BackendError
from scorehmr_research import metrics
from scorehmr_research.synthetic import observe_sequence
from scorehmr_research.training_set import load_clips


@pytest.fixture(scope="module")
def walk():
    """A held-out walking clip seen by a static camera, clean 2D landmarks."""
    meta = load_prior().meta
    clips = load_clips(["data/motion/open_clips.npz"], only={"humanoid3d_walk"})
    assert "humanoid3d_walk" in meta["heldout"], "the test clip must not be in the training set"
    poses = clips["humanoid3d_walk"]
    return observe_sequence(poses, np.zeros((len(poses), 3)), BodyModel.load(), None, torch.Generator().manual_seed(0))


def test_checkpoint_is_shipped_and_loads_on_cpu(walk):
    trained = load_prior(default_checkpoint_path(), device="cpu")
    x = trained.diffusion.sample(3, steps=10, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all()
    focal, principal = solver.camera_tensors(len(walk["keypoints"]), walk["focal"], walk["image_size"], "cpu")
    pose, betas = trained.init(make_condition(walk["keypoints"], focal, principal))
    assert torch.isfinite(pose).all() and torch.isfinite(betas).all()


def arms_wrong_in_2d(walk, body):
    """The walk's 2D landmarks with the arms' wrong by 50 px, and the true motion's landmarks
    hip-centred as MediaPipe's world landmarks are."""
    n = len(walk["keypoints"])
    true_lm = body.landmarks(walk["rotmats"], walk["betas"].expand(n, -1))
    kp = walk["keypoints"].clone()
    kp[:, 13:17, :2] += torch.tensor([40.0, -30.0])
    return kp, true_lm - true_lm[:, [23, 24]].mean(1, keepdim=True)


def test_world_landmarks_pull_the_solution_toward_them(walk):
    """MediaPipe-like world landmarks of the true motion (hip-centred, depth compressed as
    measured) make the solved body's limbs closer to the truth than the 2D landmarks alone."""
    body = BodyModel.load()
    n = len(walk["keypoints"])
    kp, world = arms_wrong_in_2d(walk, body)
    world[..., 2] *= 0.7
    config = ScoreHMRConfig(world=30.0, world_depth_gain=1 / 0.7)
    limbs = [16, 17, 18, 19, 20, 21]

    def limb_error(world_landmarks):
        out = solver.solve_sequence(kp.numpy(), walk["image_size"], walk["focal"], 30.0, config=config,
                                    world_landmarks=world_landmarks, find_floor=False)
        assert np.isfinite(out["poses"]).all() and np.isfinite(out["trans"]).all()
        joints = body.joints(torch.tensor(out["poses"]), torch.tensor(out["betas"]).expand(n, -1))
        truth = body.joints(walk["rotmats"], walk["betas"].expand(n, -1))
        return metrics.pa_mpjpe(joints[:, limbs], truth[:, limbs])

    assert limb_error(world.numpy()) < 0.6 * limb_error(None)   # measured 12.9 vs 30.3 mm


def test_refine_uses_the_world_landmarks_the_result_kept(walk):
    """The same evidence as above (depth compressed as measured), stored in the result file:
    re-solving a range uses it too."""
    import dataclasses

    from smplcore.result import MotionResult

    body = BodyModel.load()
    n = len(walk["keypoints"])
    kp, world = arms_wrong_in_2d(walk, body)
    world[..., 2] *= 0.7
    world = world.numpy()
    out = solver.solve_sequence(kp.numpy(), walk["image_size"], walk["focal"], 30.0, find_floor=False)
    result = MotionResult(poses=out["poses"], trans=out["trans"], betas=out["betas"], mocap_framerate=30.0,
                          frame_index=np.arange(n), valid=np.ones(n, bool), keypoints_2d=kp.numpy(),
                          focal_length=float(walk["focal"]), image_size=np.asarray(walk["image_size"], np.int64),
                          body_model=body.model_id, world_landmarks=world).validate()
    config = ScoreHMRConfig(world=30.0, world_depth_gain=1 / 0.7)
    rows = slice(10, 29)
    truth = body.joints(walk["rotmats"][rows], walk["betas"].expand(19, -1))[:, [16, 17, 18, 19, 20, 21]]

    def limb_error(r):
        refined = solver.refine_range(r, 10, 28, {}, config=config)
        joints = body.joints(torch.tensor(refined["poses"]), torch.tensor(out["betas"]).expand(19, -1))
        return metrics.pa_mpjpe(joints[:, [16, 17, 18, 19, 20, 21]], truth)

    assert limb_error(result) < 0.8 * limb_error(dataclasses.replace(result, world_landmarks=None))   # 23.9 vs 33.5 mm


def test_missing_detections_stay_finite_and_are_filled_smoothly(walk):
    kp = walk["keypoints"].clone().numpy()
    gap = slice(15, 25)
    kp[gap, :, 2] = 0.0
    out = solver.solve_sequence(kp, walk["image_size"], walk["focal"], 30.0)
    poses, trans = out["poses"], out["trans"]
    assert np.isfinite(poses).all() and np.isfinite(trans).all()
    # inside the gap the motion is no rougher than where the person was seen
    accel = np.linalg.norm(trans[2:] - 2 * trans[1:-1] + trans[:-2], axis=1)
    assert accel[gap.start:gap.stop - 2].max() <= 3 * accel.max(initial=0) + 1e-3
    body_accel = np.abs(poses[2:, 3:] - 2 * poses[1:-1, 3:] + poses[:-2, 3:]).max(1)
    assert body_accel[gap.start:gap.stop - 2].max() <= body_accel[:gap.start].max() + 0.05


def test_solution_reprojects_onto_clean_landmarks(walk):
    from backend.camera import project
    out = solver.solve_sequence(walk["keypoints"].numpy(), walk["image_size"], walk["focal"], 30.0)
    body = BodyModel.load()
    n = len(out["poses"])
    lm = body.landmarks(torch.tensor(out["poses"]), torch.tensor(out["betas"]).expand(n, -1), torch.tensor(out["trans"]))
    focal, principal = solver.camera_tensors(n, walk["focal"], walk["image_size"], "cpu")
    err = (project(lm, focal, principal) - walk["clean_keypoints"]).norm(dim=-1)
    size = float((walk["clean_keypoints"].amax(1) - walk["clean_keypoints"].amin(1)).amax(1).mean())
    assert float(err.mean()) < 0.05 * size    # within 5 % of the person's size on average


def test_no_observed_frame_is_a_no_person_error(walk):
    kp = walk["keypoints"].clone().numpy()
    kp[..., 2] = 0
    with pytest.raises(BackendError) as err:
        solver.solve_sequence(kp, walk["image_size"], walk["focal"], 30.0)
    assert err.value.code == "no_person"


def test_resume_without_training_state_refuses_instead_of_starting_over(tmp_path):
    from scorehmr_research.train_prior import train

    out = tmp_path / "prior.pt"
    out.write_bytes(b"an existing checkpoint")
    with pytest.raises(SystemExit, match="no training state"):
        clips = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "motion",
                             "open_clips.npz")
        train([clips], str(out), steps=1, resume=True)
    assert out.read_bytes() == b"an existing checkpoint"


def test_refining_a_result_of_another_body_model_is_refused():
    from backend.models import ModelCache
    from smplcore.result import MotionResult

    models = ModelCache().get(None, None, "cpu")
    t = 12
    result = MotionResult(poses=np.zeros((t, 72), np.float32), trans=np.tile([0, 0, 3.0], (t, 1)).astype(np.float32),
                          betas=np.zeros(10, np.float32), mocap_framerate=30.0, frame_index=np.arange(t),
                          valid=np.ones(t, bool), keypoints_2d=np.ones((t, 33, 3), np.float32), focal_length=800.0,
                          image_size=np.array([640, 480]), body_model="SMPL_NEUTRAL:0123abcd")
    with pytest.raises(BackendError) as err:
        solver.refine_range(result, 2, 8, {}, models=models)
    assert err.value.code == "bad_body_model"
    assert "SMPL_NEUTRAL:0123abcd" in err.value.message and models.body.model_id in err.value.message


def test_a_model_cache_loads_once_per_files_and_device():
    from backend.models import ModelCache

    cache = ModelCache()
    first = cache.get(None, None, "cpu")
    assert cache.get(None, None, "cpu") is first
    assert first.shipped is first.body and first.device == "cpu"


def test_a_known_performer_height_sets_the_body_size_and_its_distance(walk):
    """The shape alone cannot tell a tall person far away from a short one near by: given the
    height, the solved body has it, and stands at the true distance (clean landmarks)."""
    body = BodyModel.load()
    height = float(body.stature(walk["betas"][None])[0])
    n = len(walk["keypoints"])
    true_joints = body.joints(walk["rotmats"], walk["betas"].expand(n, -1), walk["trans"])
    errors = {}
    for given in (None, height):
        out = solver.solve_sequence(walk["keypoints"].numpy(), walk["image_size"], walk["focal"], 30.0, height=given,
                                    find_floor=False)
        betas = torch.as_tensor(out["betas"])
        joints = body.joints(torch.as_tensor(out["poses"]), betas.expand(n, -1), torch.as_tensor(out["trans"]))
        errors[given] = float((joints[:, 0] - true_joints[:, 0]).norm(dim=-1).mean())
        if given is not None:
            assert abs(float(body.stature(betas[None])[0]) - height) < 1e-3
    assert abs(height - float(body.stature(torch.zeros(1, 10))[0])) > 0.05, "the test body must differ from the mean"
    assert errors[height] < 0.5 * errors[None], errors


def solver_threads_in_a_fresh_python(code, policy=None):
    """What ``solver_cpu_threads`` and the OpenMP wait policy are in a new Python running ``code``."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    code += "; import os; from backend.device import solver_cpu_threads as s; print(os.environ.get('OMP_WAIT_POLICY'), s())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_solver_takes_a_second_thread_only_where_waiting_threads_sleep():
    cores = str(min(2, os.cpu_count()))
    # the backend loaded first sets the policy before torch reads it
    assert solver_threads_in_a_fresh_python("import backend, torch") == ["PASSIVE", cores]
    # torch loaded first spins while it waits: one thread, and the policy is not pretended
    assert solver_threads_in_a_fresh_python("import torch, backend") == ["None", "1"]
    # the user's own choice stands
    assert solver_threads_in_a_fresh_python("import backend, torch", policy="ACTIVE") == ["ACTIVE", "1"]
