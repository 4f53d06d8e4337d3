"""Fit the body model's 33 MediaPipe landmarks to where MediaPipe puts them on rendered bodies.

    .venv/bin/python -m tools.fit_landmarks [--renders data/renders/train] [--write]

Each landmark keeps its hand-picked definition (a vertex patch on the shipped model, a joint
or vertex on SMPL) and gains an offset that moves rigidly with one bone:
``landmark = base(pose, betas) + R_bone · offset``. On the training renders
(tools/render_dataset.py) the true pose, shape and camera are known, so each detection gives two
equations that are linear in the offset (the projection's cross-multiplied form, divided by the
depth so residuals are in pixels); the offsets are the robust (Huber, iteratively reweighted)
least-squares solution over all confident detections, with a small ridge towards zero. The
finger landmarks (pinky, index, thumb) are not fitted: rendered hands are painted mitts.

Two definitions are fitted: the shipped model's (``--write`` stores the offsets in
data/body_models/scorehmr_neutral.pkl as ``landmark_offsets`` / ``landmark_offset_joints``), and
the SMPL definition's 12 limb landmarks (shoulders … ankles sit on joints there, so their
offsets transfer to official SMPL through its joints; its face, hand and foot points are SMPL
vertex ids that cannot be rendered here and stay as they are). The table printed compares the
mean 2D residual (px) before and after, per landmark group, on training and held-out renders.
"""
import argparse
import glob
import os
import pickle

import numpy as np
import torch

from backend.body_model import BodyModel
from smplcore.body_model_file import default_body_model_path, load_body_model_file
from smplcore.skeleton import JOINT_INDEX, LANDMARK_INDEX, LANDMARK_MIRROR, LANDMARK_NAMES, NUM_LANDMARKS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VISIBLE = 0.5
HUBER_PX = 6.0
RIDGE = 1e-3      # per metre^2 of offset, relative to the pixel residuals' scale
# rendered hands are painted, fingers closed: MediaPipe's finger landmarks on them say little
# about real hands, so those keep their hand-picked definition
NOT_FITTED = [f"{s}_{f}" for s in ("left", "right") for f in ("pinky", "index", "thumb")]
LIMBS = [f"{s}_{p}" for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle") for s in ("left", "right")]
GROUPS = {"face": LANDMARK_NAMES[:11], "shoulders": LIMBS[:2], "elbows": LIMBS[2:4], "wrists": LIMBS[4:6],
          "hands": LANDMARK_NAMES[17:23], "hips": LIMBS[6:8], "knees": LIMBS[8:10], "ankles": LIMBS[10:12],
          "feet": LANDMARK_NAMES[29:33]}


def load_observations(folder, max_files=None):
    """Stacked detections and truth of every detected frame of the renders in ``folder``."""
    keys = ("keypoints_2d", "poses", "trans")
    rows = {k: [] for k in keys + ("betas", "focal", "principal")}
    for path in sorted(glob.glob(os.path.join(folder, "*.npz")))[:max_files]:
        with np.load(path, allow_pickle=False) as f:
            found = f["found"]
            for k in keys:
                rows[k].append(f[k][found])
            n = int(found.sum())
            rows["betas"].append(np.repeat(f["betas"][None], n, 0))
            rows["focal"].append(np.full(n, float(f["focal_length"])))
            rows["principal"].append(np.repeat(f["image_size"][None] / 2.0, n, 0))
    if not rows["poses"]:
        raise SystemExit(f"no renders in {folder}: make them with python -m tools.render_dataset")
    return {k: torch.as_tensor(np.concatenate(v), dtype=torch.float32) for k, v in rows.items()}


def _terms(model, definition, obs, bones, chunk=4096):
    """Per observation and landmark: base point (N,33,3) and bone rotation (N,33,3,3), camera frame."""
    base, rot = [], []
    with torch.no_grad():
        for s in range(0, len(obs["poses"]), chunk):
            sl = slice(s, s + chunk)
            poses, betas, trans = obs["poses"][sl], obs["betas"][sl], obs["trans"][sl]
            rotmats = model._rotmats(poses)
            world_r, _ = model.forward_kinematics(rotmats, model.rest_joints(betas))
            base.append(definition.landmarks(poses, betas, trans))
            rot.append(world_r[:, bones])
    return torch.cat(base), torch.cat(rot)


def residuals(base, rot, offsets, obs):
    """(N, 33, 2) pixel residuals of the projected landmarks against the detections."""
    p = base + torch.einsum("nlab,lb->nla", rot, offsets)
    uv = obs["focal"][:, None, None] * p[..., :2] / p[..., 2:3] + obs["principal"][:, None]
    return uv - obs["keypoints_2d"][..., :2]


def _equations(base, rot, obs, l):
    """Rows (2M, 3) and right-hand side (2M,) of the linear equations of landmark l's offset."""
    kp = obs["keypoints_2d"]
    ok = kp[:, l, 2] > VISIBLE
    r, b0, z = rot[ok, l], base[ok, l], base[ok, l, 2][:, None]
    f = obs["focal"][ok][:, None]
    d = kp[ok, l, :2] - obs["principal"][ok]                           # centred pixels
    # f (X0 + (R o)_x) - u (Z0 + (R o)_z) = 0, likewise for y; divided by Z0: pixels
    a = torch.stack([f * r[:, 0] - d[:, 0:1] * r[:, 2], f * r[:, 1] - d[:, 1:2] * r[:, 2]], 1) / z[..., None]
    rhs = -torch.stack([f[:, 0] * b0[:, 0] - d[:, 0] * b0[:, 2], f[:, 0] * b0[:, 1] - d[:, 1] * b0[:, 2]], 1) / z
    return a.reshape(-1, 3).double(), rhs.reshape(-1).double(), float((f[:, 0] / z[:, 0]).median()) if ok.any() else 0.0


def fit_offsets(base, rot, obs, landmarks=None, iterations=6):
    """Robust least-squares offsets (33, 3) in metres, left and right mirror images of each other
    (the body is symmetric; this halves the unknowns); zero for landmarks not in ``landmarks``."""
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))  # rest frame: x is left
    offsets = torch.zeros(NUM_LANDMARKS, 3)
    todo = set(range(NUM_LANDMARKS) if landmarks is None else landmarks)
    for l in sorted(todo):
        m = LANDMARK_MIRROR[l]
        if m < l and m in todo:
            continue  # fitted with its mirror image
        a, rhs, px_per_m = _equations(base, rot, obs, l)
        if m != l:
            a_m, rhs_m, _ = _equations(base, rot, obs, m)
            a, rhs = torch.cat([a, a_m @ mirror]), torch.cat([rhs, rhs_m])
        if len(rhs) < 60:
            continue
        w = torch.ones_like(rhs)
        ridge = RIDGE * px_per_m ** 2 * len(rhs) / 1000 * torch.eye(3, dtype=torch.float64)
        for _ in range(iterations):
            o = torch.linalg.solve((a * w[:, None]).T @ a + ridge, (a * w[:, None]).T @ rhs)
            res = (a @ o - rhs).abs()
            w = torch.where(res < HUBER_PX, torch.ones_like(res), HUBER_PX / res)
        offsets[l] = o.float()
        if m != l:
            offsets[m] = (mirror @ o).float()
    return offsets


def group_table(res, obs):
    """Mean 2D residual (px) of confident detections per landmark group."""
    ok = obs["keypoints_2d"][..., 2] > VISIBLE
    norm = res.norm(dim=-1)
    out = {}
    for group, names in GROUPS.items():
        idx = [LANDMARK_INDEX[n] for n in names]
        out[group] = round(float(norm[:, idx][ok[:, idx]].mean()), 2)
    out["all"] = round(float(norm[ok].mean()), 2)
    return out


class _SmplStyle(torch.nn.Module):
    """The SMPL definition's limb landmarks on the shipped body: its joints."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.idx = [LANDMARK_INDEX[n] for n in LIMBS]
        self.joints_of = [JOINT_INDEX[n] for n in LIMBS]

    def landmarks(self, poses, betas, trans):
        out = self.model.landmarks(poses, betas, trans).clone()
        out[:, self.idx] = self.model.joints(poses, betas, trans)[:, self.joints_of]
        return out


def write_offsets(path, offsets, bones):
    """Store the fitted offsets in the body model file, everything else unchanged."""
    load_body_model_file(path)  # validates what we rewrite
    with open(path, "rb") as fh:
        data = pickle.load(fh)  # our own file, written by tools/build_body_model.py
    from tools.build_body_model import _ZerosOnLoad

    if not np.any(data["posedirs"]):  # keep the file small: zero correctives stored as a call
        data["posedirs"] = _ZerosOnLoad(np.shape(data["posedirs"]))
    data["landmark_offsets"] = np.asarray(offsets, np.float32)
    data["landmark_offset_joints"] = np.asarray(bones, np.int32)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", default=os.path.join(ROOT, "data", "renders", "train"))
    parser.add_argument("--check", default=os.path.join(ROOT, "data", "renders", "heldout"),
                        help="renders only scored, never fitted on")
    parser.add_argument("--write", action="store_true", help="store the offsets in the shipped body model file")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    arrays = load_body_model_file(default_body_model_path())
    for key in ("landmark_offsets", "landmark_offset_joints"):
        arrays.extras.pop(key, None)  # fit from the hand-picked definition, not on top of an earlier fit
    model = BodyModel(arrays)
    limb_joints = torch.tensor([JOINT_INDEX[n] for n in LIMBS])
    train = load_observations(args.renders)
    check = load_observations(args.check) if os.path.isdir(args.check) and glob.glob(os.path.join(args.check, "*.npz")) else None
    print(f"fitting on {len(train['poses'])} detected frames of {args.renders}")
    report = {}
    limbs = [LANDMARK_INDEX[n] for n in LIMBS]
    smpl_bones = model.lm_bones.clone()
    smpl_bones[limbs] = limb_joints  # on SMPL these landmarks are joints and move with them
    fittable = [l for l, n in enumerate(LANDMARK_NAMES) if n not in NOT_FITTED]
    for name, definition, fitted, bones in (("shipped", model, fittable, model.lm_bones),
                                            ("smpl_limbs", _SmplStyle(model), limbs, smpl_bones)):
        bones = bones.numpy()
        base, rot = _terms(model, definition, train, bones)
        offsets = fit_offsets(base, rot, train, fitted)
        rows = {"train hand-picked": group_table(residuals(base, rot, torch.zeros_like(offsets), train), train),
                "train fitted": group_table(residuals(base, rot, offsets, train), train)}
        if check is not None:
            cb, cr = _terms(model, definition, check, bones)
            rows["held-out hand-picked"] = group_table(residuals(cb, cr, torch.zeros_like(offsets), check), check)
            rows["held-out fitted"] = group_table(residuals(cb, cr, offsets, check), check)
        report[name] = {"offsets_mm": (offsets * 1000).round().tolist(), "rows": rows}
        print(f"\n{name}: mean 2D residual (px) of detections with visibility > {VISIBLE}")
        groups = list(next(iter(rows.values())))
        print(f"{'':<24}" + "".join(f"{g:>10}" for g in groups))
        for row, vals in rows.items():
            print(f"{row:<24}" + "".join(f"{vals[g]:>10}" for g in groups))
        print("offsets (mm, in the bone's rest frame: x left, y up, z forward):")
        for l in (range(NUM_LANDMARKS) if fitted is None else fitted):
            print(f"  {LANDMARK_NAMES[l]:<18} bone {bones[l]:>2}  " + " ".join(f"{v * 1000:7.1f}" for v in offsets[l]))
        if name == "shipped" and args.write:
            write_offsets(default_body_model_path(), offsets.numpy(), bones)
            print(f"wrote landmark offsets into {default_body_model_path()}")
        if name == "smpl_limbs":
            print("SMPL table for backend/landmarks.py (SMPL_LIMB_OFFSETS_MM):")
            print({LANDMARK_NAMES[l]: [round(float(v) * 1000, 1) for v in offsets[l]] for l in fitted})
    return report


if __name__ == "__main__":
    main()
