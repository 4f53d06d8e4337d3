"""The fitted landmark definition (tools/fit_landmarks.py, stored in the shipped body model) against
the hand-picked one, on rendered frames it was never fitted on, and how BodyModel applies it."""
import os

import numpy as np
import pytest
import torch

from backend.body_model import BodyModel
from smplcore.body_model_file import default_body_model_path, load_body_model_file
from tools.fit_landmarks import VISIBLE, load_observations

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELDOUT = os.path.join(ROOT, "data", "renders", "heldout")


def _hand_picked():
    arrays = load_body_model_file(default_body_model_path())
    for key in ("landmark_offsets", "landmark_offset_joints"):
        arrays.extras.pop(key)
    return BodyModel(arrays)


def _mean_residual(model, obs):
    with torch.no_grad():
        lm = model.landmarks(obs["poses"], obs["betas"], obs["trans"])
    uv = obs["focal"][:, None, None] * lm[..., :2] / lm[..., 2:3] + obs["principal"][:, None]
    ok = obs["keypoints_2d"][..., 2] > VISIBLE
    return float((uv - obs["keypoints_2d"][..., :2]).norm(dim=-1)[ok].mean())


def test_shipped_model_carries_fitted_offsets():
    arrays = load_body_model_file(default_body_model_path())
    offsets = np.asarray(arrays.extras["landmark_offsets"])
    assert offsets.shape == (33, 3) and np.abs(offsets).max() < 0.08  # centimetres, not a different point
    assert np.abs(offsets).max() > 0.002


def test_fitted_definition_lowers_the_residual_on_held_out_renders():
    obs = load_observations(HELDOUT)  # fitted on training renders only
    fitted, hand = _mean_residual(BodyModel.load(), obs), _mean_residual(_hand_picked(), obs)
    assert fitted < 0.95 * hand, (fitted, hand)


def test_offsets_move_rigidly_with_their_bone():
    fitted, hand = BodyModel.load(), _hand_picked()
    g = torch.Generator().manual_seed(0)
    poses = 0.4 * torch.randn(5, 72, generator=g)
    betas = torch.randn(5, 10, generator=g)
    with torch.no_grad():
        rot, _ = fitted.forward_kinematics(fitted._rotmats(poses), fitted.rest_joints(betas))
        shift = fitted.landmarks(poses, betas) - hand.landmarks(poses, betas)
    offsets = torch.as_tensor(load_body_model_file(default_body_model_path()).extras["landmark_offsets"])
    expected = torch.einsum("nlab,lb->nla", rot[:, fitted.lm_bones], offsets.float())
    torch.testing.assert_close(shift, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("side", ["left", "right"])
def test_smpl_limb_offsets_are_mirror_images(side):
    from backend.landmarks import SMPL_LIMB_OFFSETS_MM

    other = "right" if side == "left" else "left"
    for name, (x, y, z) in SMPL_LIMB_OFFSETS_MM.items():
        if name.startswith(side):
            mx, my, mz = SMPL_LIMB_OFFSETS_MM[name.replace(side, other, 1)]
            assert (mx, my, mz) == pytest.approx((-x, y, z), abs=0.11)
