"""Body-model math for the Blender side, numpy only: cached model loading and forward kinematics.

Blender's Python must not import torch, so the backend's torch FK is not available here; this is
the reference used to build the rest pose and to check keyed poses.
"""
import os

import numpy as np

from ..smplcore import rotations
from ..smplcore.body_model_file import default_body_model_path, load_body_model_file

_cache = {}


def load_body_model(path: str = "", tree="smpl"):
    """Load once per file version (the shipped model takes ~1 s to read); '' = the shipped model.
    ``tree="smplh"``: a model with fingers (see ``load_body_model_file``)."""
    path = path or default_body_model_path()
    key = (path, tree, os.path.getmtime(path)) if os.path.isfile(path) else (path, tree, None)
    if key not in _cache:
        if len(_cache) > 1:
            _cache.clear()
        _cache[key] = load_body_model_file(path, tree=tree)
    return _cache[key]


def forward_kinematics(rest_joints, local_rotations, parents):
    """Global joint rotations and positions of a posed skeleton, root at its rest place.

    rest_joints (24, 3); local_rotations (..., 24, 3, 3) relative to the parent, in the
    model's world-aligned rest frame. Returns (global_rotations (..., 24, 3, 3),
    positions (..., 24, 3)); the root rotates about its own joint, as in SMPL.
    """
    rest_joints = np.asarray(rest_joints, dtype=np.float64)
    local_rotations = np.asarray(local_rotations, dtype=np.float64)
    glob = np.empty_like(local_rotations)
    pos = np.empty(local_rotations.shape[:-3] + (len(parents), 3))
    for j, p in enumerate(parents):
        if p < 0:
            glob[..., j, :, :] = local_rotations[..., j, :, :]
            pos[..., j, :] = rest_joints[j]
        else:
            glob[..., j, :, :] = glob[..., p, :, :] @ local_rotations[..., j, :, :]
            offset = rest_joints[j] - rest_joints[p]
            pos[..., j, :] = pos[..., p, :] + glob[..., p, :, :] @ offset
    return glob, pos


def posed_joints_camera(model, result):
    """(T, 24, 3) joint positions of a MotionResult in the OpenCV camera frame, metres."""
    rest = model.rest_joints(result.betas)
    local = rotations.axis_angle_to_matrix(np.asarray(result.poses, np.float64).reshape(-1, 24, 3))
    _, pos = forward_kinematics(rest, local, model.parents)
    return pos + np.asarray(result.trans, np.float64)[:, None, :]
