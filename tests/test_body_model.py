"""The shipped SMPL-compatible model, the official-SMPL path and the body-model layer."""
import pickle

import numpy as np
import pytest
import scipy.sparse
import smplx
import torch
from scipy.spatial import cKDTree

from backend.body_model import BodyModel
from smplcore import rotations
from smplcore.body_model_file import BodyModelError, default_body_model_path, load_body_model_file
from smplcore.skeleton import JOINT_INDEX, MIRROR, NUM_JOINTS, PARENTS

MODEL = default_body_model_path()


@pytest.fixture(scope="module")
def smpl():
    return smplx.SMPL(model_path=MODEL)


@pytest.fixture(scope="module")
def body():
    return BodyModel.load()


def rest(smpl, betas=None):
    out = smpl(betas=torch.zeros(1, 10) if betas is None else betas)
    return out.vertices[0].detach().numpy().astype(np.float64), out.joints[0, :NUM_JOINTS].detach().numpy()


def test_file_loads_in_smplx_with_smpl_tree(smpl):
    assert smpl.J_regressor.shape[0] == NUM_JOINTS
    assert smpl.parents.tolist()[1:] == list(PARENTS[1:])
    assert MODEL.endswith(".pkl")


def test_rest_pose_is_t_pose(smpl):
    v, j = rest(smpl)
    for side in ("left", "right"):
        d = j[JOINT_INDEX[f"{side}_wrist"]] - j[JOINT_INDEX[f"{side}_shoulder"]]
        assert np.degrees(np.arcsin(abs(d[1]) / np.linalg.norm(d))) < 5, "arm not horizontal"
        assert np.degrees(np.arcsin(abs(d[2]) / np.linalg.norm(d))) < 5, "arm not sideways"
        assert np.sign(d[0]) == (1 if side == "left" else -1), "+X is the body's left"
        leg = j[JOINT_INDEX[f"{side}_ankle"]] - j[JOINT_INDEX[f"{side}_hip"]]
        assert np.degrees(np.arccos(-leg[1] / np.linalg.norm(leg))) < 5, "leg not straight down"
    # face points forward (+Z): the nose is the most forward part of the head
    head = v[v[:, 1] > j[JOINT_INDEX["head"], 1]]
    assert head[:, 2].max() > j[JOINT_INDEX["head"], 2] + 0.05


def test_palms_face_down(body):
    lm = body.landmarks(torch.zeros(1, 72))[0].numpy()
    from smplcore.skeleton import LANDMARK_INDEX as L
    for side in ("left", "right"):
        # palm down: index knuckle in front (+Z) of the pinky knuckle, both at wrist height
        assert lm[L[f"{side}_index"], 2] - lm[L[f"{side}_pinky"], 2] > 0.03


def test_left_right_mirror_symmetry(smpl):
    v, j = rest(smpl)
    mirrored_joints = j[list(MIRROR)] * np.array([-1, 1, 1])
    assert np.abs(mirrored_joints - j).max() < 0.01
    dist, _ = cKDTree(v).query(v * np.array([-1, 1, 1]))
    assert dist.max() < 0.01


def test_mean_shape_is_a_mid_height_adult(smpl):
    v, _ = rest(smpl)
    assert 1.60 <= v[:, 1].max() - v[:, 1].min() <= 1.80


def _face_normals(v, f):
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def test_beta_sweeps_are_smooth_and_never_invert_triangles(smpl):
    faces = smpl.faces.astype(np.int64)
    v0, j0 = rest(smpl)
    n0 = _face_normals(v0, faces)
    # girth is measured on one fixed ring of vertices: the torso at the spine1 joint
    ring = (np.abs(v0[:, 1] - j0[JOINT_INDEX["spine1"], 1]) < 0.01) & (np.abs(v0[:, 0]) < 0.3)
    heights = {}
    for k in range(10):
        hs, girths = [], []
        for b in np.linspace(-2, 2, 9):
            betas = torch.zeros(1, 10)
            betas[0, k] = float(b)
            v, _ = rest(smpl, betas)
            assert np.sum(np.sum(_face_normals(v, faces) * n0, axis=1) < 0) == 0, f"beta{k}={b} inverts triangles"
            hs.append(v[:, 1].max() - v[:, 1].min())
            girths.append(np.ptp(v[ring, 0]) + np.ptp(v[ring, 2]))
        for series in (np.array(hs), np.array(girths)):
            steps = np.diff(series)
            # linear model: equal steps (smooth), no jumps
            assert np.abs(np.diff(steps)).max() < 0.25 * np.abs(steps).max() + 1e-4
        heights[k] = hs
    assert heights[0][-1] - heights[0][0] > 0.3, "beta0 should span the adult height range"
    assert 1.40 < min(heights[0]) and max(heights[0]) < 2.05


def test_elbow_flexion_moves_the_wrist_where_expected(body):
    poses = torch.zeros(1, 72)
    elbow = JOINT_INDEX["left_elbow"]
    poses[0, elbow * 3 + 1] = -np.pi / 2  # about +Y (up): the left forearm swings forward
    j0 = body.joints(torch.zeros(1, 72))[0].numpy()
    j = body.joints(poses)[0].numpy()
    wrist = JOINT_INDEX["left_wrist"]
    forearm = np.linalg.norm(j0[wrist] - j0[elbow])
    # the T-pose forearm points along +X, so it now points forward (+Z), same length
    assert np.linalg.norm(j[wrist] - (j0[elbow] + np.array([0.0, 0.0, forearm]))) < 1e-3
    expected = j0[elbow] + rotations.axis_angle_to_matrix(poses[0, elbow * 3:elbow * 3 + 3].numpy()) @ (j0[wrist] - j0[elbow])
    assert np.linalg.norm(j[wrist] - expected) < 1e-5
    untouched = [i for i in range(NUM_JOINTS) if i not in (wrist, JOINT_INDEX["left_hand"])]
    assert np.allclose(j[untouched], j0[untouched], atol=1e-6)


def test_fast_fk_matches_smplx(smpl, body):
    torch.manual_seed(0)
    poses, betas, trans = torch.randn(16, 72) * 0.5, torch.randn(16, 10), torch.randn(16, 3)
    ref = smpl(global_orient=poses[:, :3], body_pose=poses[:, 3:], betas=betas, transl=trans)
    assert (body.joints(poses, betas, trans) - ref.joints[:, :NUM_JOINTS]).abs().max() < 1e-5
    assert (body.vertices(poses, betas, trans) - ref.vertices).abs().max() < 1e-5


def test_landmarks_are_the_declared_vertex_blend(body):
    torch.manual_seed(1)
    poses, betas = torch.randn(4, 72) * 0.5, torch.randn(4, 10)
    v = body.vertices(poses, betas)
    ids = torch.as_tensor(load_body_model_file(MODEL).extras["landmark_vertex_ids"]).long()
    w = torch.as_tensor(load_body_model_file(MODEL).extras["landmark_vertex_weights"])
    expected = torch.einsum("lk,nlkc->nlc", w, v[:, ids])
    # plus the fitted offsets (tools/fit_landmarks.py), carried rigidly by each landmark's bone
    rot, _ = body.forward_kinematics(body._rotmats(poses), body.rest_joints(betas))
    offsets = torch.as_tensor(load_body_model_file(MODEL).extras["landmark_offsets"]).float()
    expected = expected + torch.einsum("nlab,lb->nla", rot[:, body.lm_bones], offsets)
    assert (body.landmarks(poses, betas) - expected).abs().max() < 1e-5


def test_landmarks_sit_where_mediapipe_puts_them(body):
    from smplcore.skeleton import LANDMARK_INDEX as L
    lm = body.landmarks(torch.zeros(1, 72))[0].numpy()
    j = body.joints(torch.zeros(1, 72))[0].numpy()
    assert lm[L["nose"], 1] > j[JOINT_INDEX["neck"], 1] and lm[L["nose"], 2] > j[JOINT_INDEX["head"], 2]
    assert lm[L["left_eye"], 0] > 0 > lm[L["right_eye"], 0]
    assert lm[L["left_eye_outer"], 0] > lm[L["left_eye"], 0] > lm[L["left_eye_inner"], 0]
    assert lm[L["mouth_left"], 1] < lm[L["nose"], 1] and lm[L["mouth_left"], 0] > 0
    for name in ("shoulder", "elbow", "wrist", "knee", "ankle"):
        assert np.linalg.norm(lm[L[f"left_{name}"]] - j[JOINT_INDEX[f"left_{name}"]]) < 0.08, name
    assert lm[L["left_heel"], 2] < lm[L["left_foot_index"], 2], "heel behind the toes"


def _synthetic_official_smpl(path, fmt="pkl"):
    """A file in SMPL's own layout: 6890 vertices, scipy-sparse J_regressor, uint32 root
    parent, posedirs (6890, 3, 207); geometry borrowed from the shipped model."""
    src = load_body_model_file(MODEL)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(src.num_vertices, 6890, replace=False))
    jreg = np.zeros((24, 6890))
    for j in range(24):
        near = np.argsort(np.linalg.norm(src.v_template[pick] - src.rest_joints()[j], axis=1))[:8]
        jreg[j, near] = 1 / 8
    data = {
        "v_template": src.v_template[pick], "shapedirs": src.shapedirs[pick],
        "posedirs": rng.normal(scale=1e-3, size=(6890, 3, 207)),
        "J_regressor": scipy.sparse.csc_matrix(jreg), "weights": src.weights[pick],
        "f": rng.integers(0, 6890, size=(13776, 3)).astype(np.uint32),
        "kintree_table": np.array([[2 ** 32 - 1] + list(PARENTS[1:]), list(range(24))], dtype=np.int64),
    }
    if fmt == "npz":
        data["J_regressor"] = jreg
        np.savez(path, **data)
    else:
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    return data


@pytest.mark.parametrize("fmt", ["pkl", "npz"])
def test_official_smpl_format_loads_and_gives_landmarks(tmp_path, fmt):
    path = tmp_path / f"SMPL_NEUTRAL.{fmt}"
    data = _synthetic_official_smpl(path, fmt)
    body = BodyModel.load(str(path))
    assert body.posedirs is not None and body.posedirs.shape == (207, 6890 * 3)
    poses = torch.randn(2, 72) * 0.3
    lm = body.landmarks(poses)
    assert lm.shape == (2, 33, 3) and torch.isfinite(lm).all()
    # same numbers as smplx on the same file (posedirs included)
    if fmt == "pkl":
        ref = smplx.SMPL(model_path=str(path))(global_orient=poses[:, :3], body_pose=poses[:, 3:])
        assert (body.vertices(poses) - ref.vertices).abs().max() < 1e-5
    assert data["v_template"].shape == (6890, 3)


def test_official_smpl_vertex_ids_come_from_smplx():
    from backend.landmarks import smpl_definition
    from smplx.vertex_ids import vertex_ids
    ids, vw, jw = smpl_definition()
    assert ids[0, 0] == vertex_ids["smplh"]["nose"] and vw[0, 0] == 1.0
    assert np.allclose(vw.sum(1) + jw.sum(1), 1.0), "every landmark is an affine blend"


@pytest.mark.parametrize("content, message", [
    (b"not a pickle at all", "not a readable SMPL model file"),
    (pickle.dumps({"v_template": np.zeros((10, 3))}), "missing"),
    (pickle.dumps([1, 2, 3]), "expected a dict"),
])
def test_corrupt_or_wrong_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(BodyModelError, match=message):
        BodyModel.load(str(path))


def test_truncated_model_file_is_reported(tmp_path):
    path = tmp_path / "truncated.pkl"
    path.write_bytes(open(MODEL, "rb").read()[:100000])
    with pytest.raises(BodyModelError, match="truncated.pkl"):
        BodyModel.load(str(path))


def test_smplx_file_is_rejected_with_reason(tmp_path):
    data = _synthetic_official_smpl(tmp_path / "x.pkl")
    data["J_regressor"] = np.zeros((55, 6890))
    with open(tmp_path / "smplx.pkl", "wb") as fh:
        pickle.dump(data, fh)
    with pytest.raises(BodyModelError, match="SMPL-H/SMPL-X"):
        BodyModel.load(str(tmp_path / "smplx.pkl"))


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(BodyModelError, match="not found"):
        BodyModel.load(str(tmp_path / "nope.pkl"))


def test_unexpected_pickled_objects_are_refused(tmp_path):
    import os
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"v_template": os.getcwd}, fh)
    with pytest.raises(BodyModelError, match="refusing"):
        BodyModel.load(str(path))


def test_with_stature_reaches_the_height_and_keeps_a_body_of_that_height_unchanged():
    body = BodyModel.load()
    betas = torch.tensor([0.5, -1.0, 0.3, 0.0, 0.2, 0.0, 0.0, -0.4, 0.0, 0.1])
    for height in (1.45, 1.70, 1.95):
        assert abs(float(body.stature(body.with_stature(betas, height)[None])[0]) - height) < 1e-3
    own = float(body.stature(betas[None])[0])
    assert torch.allclose(body.with_stature(betas, own), betas, atol=1e-4)
