"""The canonical clip every importer produces, its ground/origin normalisation, and storage.

Canonical form: SMPL-convention axis-angle ``poses (T, 72)`` on the shipped body model,
``trans (T, 3)`` metres, ``betas (10,)``, 30 fps, in a Y-up world (SMPL's body convention)
whose ground plane y = 0 is the lowest point of the feet over the clip, and whose origin in
x/z is under the pelvis at the first frame.
"""
import json
from dataclasses import dataclass, field

import numpy as np
import torch

from smplcore.skeleton import JOINT_INDEX

FOOT_JOINTS = tuple(JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot"))


@dataclass
class CanonicalClip:
    name: str
    source: str
    licence: str
    poses: np.ndarray          # (T, 72)
    trans: np.ndarray          # (T, 3)
    betas: np.ndarray          # (10,)
    fps: float = 30.0
    fit_error_mm: float = float("nan")   # NaN when no fit was needed
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self):
        return int(self.poses.shape[0])


def _foot_vertex_ids(model):
    """Mesh vertices of the feet below the ankles: their lowest point is the sole."""
    weights = model.weights
    owner = weights.argmax(1)
    on_foot = torch.zeros_like(owner, dtype=torch.bool)
    for j in FOOT_JOINTS:
        on_foot |= owner == j
    ankle_y = model.joint_template[JOINT_INDEX["left_ankle"], 1]
    return torch.nonzero(on_foot & (model.v_template[:, 1] < ankle_y)).flatten()


def lowest_foot_point(model, poses, betas, trans, chunk=512):
    """Per-frame minimum height (T,) of the foot soles, skinning only the foot vertices."""
    ids = _foot_vertex_ids(model)
    betas = torch.as_tensor(betas, dtype=torch.float32).reshape(1, -1)
    v_rest = model.v_template[ids] + torch.einsum("vcb,nb->nvc", model.shapedirs[ids], betas)[0]
    rest_joints = model.rest_joints(betas)
    w = model.weights[ids]
    out = []
    with torch.no_grad():
        for s in range(0, len(poses), chunk):
            rot = model._rotmats(torch.as_tensor(poses[s:s + chunk], dtype=torch.float32))
            world_r, world_j = model.forward_kinematics(rot, rest_joints)
            r, off = model._skinning(world_r, world_j, rest_joints)
            v = torch.einsum("vj,njab,vb->nva", w, r, v_rest) + torch.einsum("vj,nja->nva", w, off)
            out.append(v[..., 1].min(1).values + torch.as_tensor(trans[s:s + chunk, 1], dtype=torch.float32))
    return torch.cat(out).numpy()


def normalise_ground_and_origin(model, poses, trans, betas):
    """Shift trans so the clip's lowest sole point is y = 0 and the first pelvis is above x=z=0."""
    trans = np.array(trans, dtype=np.float64, copy=True)
    trans[:, 1] -= lowest_foot_point(model, poses, betas, trans).min()
    with torch.no_grad():
        pelvis0 = model.joints(torch.as_tensor(poses[:1], dtype=torch.float32),
                               torch.as_tensor(betas, dtype=torch.float32).reshape(1, -1))[0, 0].numpy()
    trans[:, [0, 2]] -= trans[0, [0, 2]] + pelvis0[[0, 2]]
    return trans


# --- storage: one .npz holding all clips, frames concatenated, plus a per-clip table ---------

def save_clips(path, clips):
    """All clips in one compact .npz (float16 poses, float32 trans/betas)."""
    starts = np.cumsum([0] + [c.num_frames for c in clips])
    table = [{"name": c.name, "source": c.source, "licence": c.licence, "frames": c.num_frames,
              "start": int(starts[i]), "fps": c.fps,
              "fit_error_mm": None if np.isnan(c.fit_error_mm) else round(float(c.fit_error_mm), 1)}
             for i, c in enumerate(clips)]
    np.savez_compressed(
        path,
        poses=np.concatenate([c.poses for c in clips]).astype(np.float16),
        trans=np.concatenate([c.trans for c in clips]).astype(np.float32),
        betas=np.stack([c.betas for c in clips]).astype(np.float32),
        clips=np.array(json.dumps(table)),
    )
    return table

