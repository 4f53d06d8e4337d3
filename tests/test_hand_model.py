"""The shipped SMPL-H-compatible body with fingers: smplx reads it, hands mirror, fingers bend."""
import numpy as np
import pytest
import torch

from smplcore.body_model_file import default_body_model_path, default_smplh_model_path, load_body_model_file
from smplcore.skeleton import NUM_SMPLH_JOINTS, SMPLH_JOINT_NAMES

smplx = pytest.importorskip("smplx")


@pytest.fixture(scope="module")
def smplh():
    return smplx.SMPLH(model_path=default_smplh_model_path(), ext="pkl", use_pca=False, flat_hand_mean=True)


def _run(model, betas=None, left=None, right=None):
    zeros = torch.zeros(1, 45)
    out = model(betas=None if betas is None else torch.as_tensor(betas, dtype=torch.float32)[None],
                left_hand_pose=zeros if left is None else torch.as_tensor(left, dtype=torch.float32)[None],
                right_hand_pose=zeros if right is None else torch.as_tensor(right, dtype=torch.float32)[None])
    return out.joints[0, :NUM_SMPLH_JOINTS].detach().numpy(), out.vertices[0].detach().numpy()


def test_smplx_loads_it_with_smplh_joint_tree(smplh):
    joints, verts = _run(smplh)
    assert joints.shape == (52, 3) and np.all(np.isfinite(verts))
    arrays = load_body_model_file(default_smplh_model_path(), tree="smplh")
    assert arrays.extras["joint_names"].tolist() == list(SMPLH_JOINT_NAMES)
    # T rest pose, flat hands: every finger joint of the left hand beyond its wrist on +x, at wrist height
    wrist, fingers = joints[20], joints[22:37]
    assert np.all(fingers[:, 0] > wrist[0]) and np.abs(fingers[:, 1] - wrist[1]).max() < 0.03


def test_body_matches_the_smpl_model_for_the_same_betas(smplh):
    smpl = load_body_model_file(default_body_model_path())
    for betas in (np.zeros(10), np.random.default_rng(0).normal(size=10)):
        joints, _ = _run(smplh, betas)
        gap = np.linalg.norm(joints[:22] - smpl.rest_joints(betas)[:22], axis=1)
        assert gap.max() < 0.005, gap


def test_finger_chains_mirror_left_right(smplh):
    for betas in (np.zeros(10), np.random.default_rng(1).normal(size=10)):
        joints, _ = _run(smplh, betas)
        left, right = joints[list(range(20, 52, 2))[:1] + list(range(22, 37))], joints[[21] + list(range(37, 52))]
        right_mirrored = right * [-1, 1, 1]
        assert np.abs(left - right_mirrored).max() < 0.001


def test_index_curl_moves_the_fingertip_below_the_knuckle(smplh):
    arrays = load_body_model_file(default_smplh_model_path(), tree="smplh")
    tip = int(arrays.extras["hand_tip_vertex_ids"][0][1])   # left index fingertip
    joints, verts = _run(smplh)
    knuckle = joints[SMPLH_JOINT_NAMES.index("left_index1")]
    length = np.linalg.norm(verts[tip] - knuckle)
    assert 0.06 < length < 0.12                              # knuckle to fingertip of an adult
    pose = np.zeros(45)
    pose[0:3] = [0.0, 0.0, -np.pi / 2]                      # index1: 90 deg about -z curls +x into -y
    _, bent = _run(smplh, left=pose)
    rest = verts[tip] - knuckle
    assert rest[0] > 0.9 * length                           # flat hand: the finger points along +x
    # palms face down in the rest pose: a 90 deg knuckle flexion points the finger at the floor
    expected = [rest[1], -rest[0], rest[2]]
    assert np.allclose(bent[tip] - knuckle, expected, atol=0.002), bent[tip] - knuckle
    assert np.linalg.norm(bent[tip] - verts[tip]) > length    # and the other fingers stayed put
    other = int(arrays.extras["hand_tip_vertex_ids"][0][2])
    assert np.linalg.norm(bent[other] - verts[other]) < 1e-4
