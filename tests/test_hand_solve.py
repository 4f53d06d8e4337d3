"""The finger fit recovers known hand poses of the shipped SMPL-H body from their landmarks."""
import numpy as np
import torch

from backend.geometry import axis_angle_to_matrix
from backend.hand_model import HandModel
from backend.hand_solve import fit_hand


def _known_poses(hand, n, rng):
    """Random finger poses inside the joint limits, smooth over n frames."""
    lo, hi = hand.lower.numpy(), hand.upper.numpy()
    keys = rng.uniform(lo, hi, size=(2, 15, 3))
    w = np.linspace(0, 1, n)[:, None, None]
    anat = (1 - w) * keys[0] + w * keys[1]
    return torch.as_tensor(anat, dtype=torch.float32)


def test_fit_recovers_fingertips_of_known_poses():
    rng = np.random.default_rng(0)
    model = HandModel()
    for side in ("left", "right"):
        hand = model[side]
        n = 6
        anat = _known_poses(hand, n, rng)
        rotation = axis_angle_to_matrix(torch.as_tensor(rng.normal(scale=0.8, size=(1, 3)), dtype=torch.float32)).expand(n, 3, 3)
        truth = hand.points(rotation, hand.to_axis_angle(anat))
        pixels = 900.0 * truth + torch.tensor([400.0, 300.0, 0.0])   # weak perspective, 900 px/m
        pixels = pixels + torch.as_tensor(rng.normal(scale=1.0, size=pixels.shape), dtype=torch.float32)
        body_wrist = rotation @ axis_angle_to_matrix(torch.tensor([[0.0, 0.5, 0.0]])).expand(n, 3, 3)  # off by 30 deg
        aa, fitted_rotation, error = fit_hand(hand, pixels.numpy(), np.ones((n, 21)), body_wrist.numpy())
        fitted = hand.points(torch.as_tensor(fitted_rotation), torch.as_tensor(aa))
        tips = [4, 8, 12, 16, 20]
        tip_error_mm = 1000 * (fitted - truth)[:, tips].norm(dim=-1)
        flat = hand.points(torch.as_tensor(fitted_rotation), torch.zeros(n, 15, 3))
        flat_error_mm = 1000 * (flat - truth)[:, tips].norm(dim=-1)
        assert tip_error_mm.mean() < 7.0 and error.mean() < 3.0, (side, tip_error_mm.mean(), error.mean())
        assert tip_error_mm.mean() < 0.3 * flat_error_mm.mean()


def test_both_hands_fit_as_one_batch_recover_each_side():
    """Frames of the left and the right hand fitted together (as solve_hands does) each get their
    own side's hand: the same points as that side's model, and the fingertips recovered."""
    rng = np.random.default_rng(1)
    model = HandModel()
    n = 4
    sides = ["left"] * n + ["right"] * n
    hand = model.per_frame(sides)
    anat = torch.cat([_known_poses(model[side], n, rng) for side in ("left", "right")])
    turn = axis_angle_to_matrix(torch.as_tensor(rng.normal(scale=0.8, size=(2, 3)), dtype=torch.float32))
    rotation = turn.repeat_interleave(n, 0)   # one steady hand rotation per side
    truth = hand.points(rotation, hand.to_axis_angle(anat))
    for i, side in enumerate(sides):  # per frame exactly its side's hand
        alone = model[side].points(rotation[i:i + 1], model[side].to_axis_angle(anat[i:i + 1]))
        assert torch.allclose(truth[i:i + 1], alone)
    assert not torch.allclose(truth[:n], model["right"].points(rotation[:n], model["right"].to_axis_angle(anat[:n])))
    pixels = 900.0 * truth + torch.tensor([400.0, 300.0, 0.0])
    body_wrist = rotation @ axis_angle_to_matrix(torch.tensor([[0.0, 0.5, 0.0]])).expand(2 * n, 3, 3)
    linked = np.array([True] * (n - 1) + [False] + [True] * (n - 1))  # no smoothing from one hand to the other
    aa, fitted_rotation, error = fit_hand(hand, pixels.numpy(), np.ones((2 * n, 21)), body_wrist.numpy(), linked=linked)
    fitted = hand.points(torch.as_tensor(fitted_rotation), torch.as_tensor(aa))
    tip_error_mm = 1000 * (fitted - truth)[:, [4, 8, 12, 16, 20]].norm(dim=-1).mean(-1)
    assert tip_error_mm[:n].mean() < 7.0 and tip_error_mm[n:].mean() < 7.0, tip_error_mm
    assert error.mean() < 3.0
