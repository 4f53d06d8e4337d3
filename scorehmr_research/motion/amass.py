"""AMASS ``.npz`` motion (the field's standard layout) -> canonical clip, without IK.

AMASS files hold SMPL-family parameters: ``poses (T, 156)`` SMPL+H (or 72 SMPL, 165 SMPL-X),
``trans (T, 3)``, ``betas``, ``mocap_framerate`` (SMPL-X files: ``mocap_frame_rate``), in a
Z-up world. The first 66 pose values (root + 21 body joints) are SMPL's; SMPL's two hand
joints (22, 23) have no SMPL+H/X counterpart and are set to rest unless the file is SMPL (72).

The betas belong to the file's body model, not ours. Given that model (``source_model``,
e.g. the user's licensed SMPL+H file), its joints are computed and our betas fitted to them
(poses refined from the file's, with the fit error reported); without it betas are zero.
"""
import os

import numpy as np
import torch

from smplcore import axes
from smplcore.rotations import axis_angle_to_matrix, matrix_to_axis_angle

from .canonical import CanonicalClip, normalise_ground_and_origin
from .ik import fit_betas_to_joints
from .resample import CANONICAL_FPS, resample_linear, resample_rotations, uniform_times

LICENCE = "as the source AMASS dataset (user-supplied; not shipped)"


def read_amass(path):
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        missing = {"poses", "trans"} - keys
        if missing or not ({"mocap_framerate", "mocap_frame_rate"} & keys):
            raise ValueError(f"{path}: not an AMASS motion file (missing {sorted(missing) or 'frame rate'})")
        fps = float(f["mocap_framerate"] if "mocap_framerate" in keys else f["mocap_frame_rate"])
        betas = f["betas"].astype(np.float64) if "betas" in keys else np.zeros(10)
        return f["poses"].astype(np.float64), f["trans"].astype(np.float64), betas, fps


def smpl_pose(poses):
    """(T, 72 / 156 / 165) -> SMPL (T, 24, 3) axis-angle."""
    if poses.shape[1] == 72:
        return poses.reshape(-1, 24, 3)
    out = np.zeros((len(poses), 24, 3))
    out[:, :22] = poses[:, :66].reshape(-1, 22, 3)
    return out


def z_up_to_y_up(rotmats, trans, pelvis_rest):
    """The world turned to Y up: the root rotation of ``rotmats`` (T, 24, 3, 3) and ``trans``."""
    rot = rotmats.copy()
    rot[:, 0], trans = axes.z_up_to_y_up(rot[:, 0], trans, pelvis_rest)
    return rot, trans


def _pelvis_rest(model, betas):
    with torch.no_grad():
        return model.rest_joints(torch.as_tensor(betas, dtype=torch.float32).reshape(1, -1))[0, 0].double().numpy()


def import_amass(model, path, name=None, source_model=None):
    poses, trans, file_betas, fps = read_amass(path)
    times = uniform_times(len(poses), fps)
    rotmats = resample_rotations(axis_angle_to_matrix(smpl_pose(poses)), times, CANONICAL_FPS)
    trans = resample_linear(trans, times, CANONICAL_FPS)
    name = name or os.path.splitext(os.path.basename(path))[0]
    betas, error = np.zeros(model.num_betas), float("nan")
    if source_model is None:
        rotmats, trans = z_up_to_y_up(rotmats, trans, _pelvis_rest(model, betas))
    else:
        with torch.no_grad():
            src_betas = torch.as_tensor(file_betas[None, :source_model.num_betas], dtype=torch.float32)
            joints = source_model.joints(torch.as_tensor(rotmats, dtype=torch.float32), src_betas,
                                         torch.as_tensor(trans, dtype=torch.float32)).double().numpy()
        # same kinematic tree: keep the file's rotations, fit only our betas and translation
        rotmats, _ = z_up_to_y_up(rotmats, trans, _pelvis_rest(model, betas))
        betas, trans, error = fit_betas_to_joints(model, rotmats, joints @ axes.Z_UP_TO_Y_UP.T)
    aa = matrix_to_axis_angle(rotmats).reshape(-1, 72)
    trans = normalise_ground_and_origin(model, aa, trans, betas)
    return CanonicalClip(name, "amass", LICENCE, aa.astype(np.float32), trans.astype(np.float32),
                         np.asarray(betas, dtype=np.float32), CANONICAL_FPS, error)
