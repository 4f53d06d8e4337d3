"""Left/right swaps of the detector undone by continuity (backend.sides)."""
import os

import numpy as np
import torch

from backend.body_model import BodyModel
from backend.sides import consistent_sides
from bench.sides import truth_swapped
from scorehmr_research.synthetic import observe_sequence
from scorehmr_research.training_set import load_clips
from smplcore.skeleton import LANDMARK_INDEX, LANDMARK_MIRROR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEGS = [LANDMARK_INDEX[f"{side}_{part}"] for side in ("left", "right")
        for part in ("hip", "knee", "ankle", "heel", "foot_index")]


def _walk():
    """Clean 2D landmarks of a walk (the legs cross every step) and hip-centred 3D ones."""
    body = BodyModel.load()
    poses = load_clips([os.path.join(ROOT, "data/motion/open_clips.npz")], only={"humanoid3d_walk"})["humanoid3d_walk"]
    seen = observe_sequence(poses, np.zeros((len(poses), 3)), body, None, torch.Generator().manual_seed(0))
    n = len(poses)
    world = body.landmarks(seen["rotmats"], seen["betas"].expand(n, -1)).numpy()
    world -= world[:, [LANDMARK_INDEX["left_hip"], LANDMARK_INDEX["right_hip"]]].mean(1, keepdims=True)
    return seen["keypoints"].numpy(), world


def _swap(x, frames, landmarks):
    x = x.copy()
    mirrored = [LANDMARK_MIRROR[i] for i in landmarks]
    x[np.ix_(frames, landmarks)] = x[np.ix_(frames, mirrored)]
    return x


def test_crossing_legs_of_a_walk_keep_their_labels():
    keypoints, world = _walk()
    fixed, fixed_world, swapped = consistent_sides(keypoints, world, fps=30.0)
    assert not swapped.any()
    assert np.array_equal(fixed, keypoints) and np.array_equal(fixed_world, world)


def test_a_run_of_swapped_legs_and_a_whole_body_flip_are_swapped_back():
    keypoints, world = _walk()
    legs = np.arange(10, 16)
    everything = np.arange(25, 29)
    all_sided = [i for i in range(33) if LANDMARK_MIRROR[i] != i]
    detected = _swap(_swap(keypoints, legs, LEGS), everything, all_sided)
    detected_world = _swap(_swap(world, legs, LEGS), everything, all_sided)
    fixed, fixed_world, swapped = consistent_sides(detected, detected_world, fps=30.0)
    # arms and legs are back; the face of this side view may keep the detector's labels: its
    # two sides lie a few pixels apart, where labels cannot be told by motion (and matter little)
    limbs = [i for i in all_sided if i >= LANDMARK_INDEX["left_shoulder"]]
    assert np.array_equal(fixed[:, limbs], keypoints[:, limbs]) and np.allclose(fixed_world[:, limbs], world[:, limbs])
    assert set(np.flatnonzero(swapped[:, 2])) == set(legs) | set(everything)
    assert set(np.flatnonzero(swapped[:, 1])) == set(everything)


def test_fewer_swapped_labels_on_a_rendered_dance_seen_by_mediapipe():
    """Real MediaPipe detections of a rendered training clip, labelled by the exact truth."""
    with np.load(os.path.join(ROOT, "data/renders/train/humanoid3d_dance_a__v0.npz"), allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    truth, clear = truth_swapped(d, BodyModel.load())
    _, _, swapped = consistent_sides(d["keypoints_2d"], None, float(d["fps"]), d["found"])
    wrong_before = (truth & clear).sum()
    wrong_after = ((truth ^ swapped) & clear).sum()
    assert wrong_before >= 10 and wrong_after <= wrong_before / 2
