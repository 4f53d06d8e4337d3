"""The body-model layer: SMPL-format models in torch, with a fast joints-only path.

Per sequence, betas give rest joints once (``rest_joints``); per frame, forward kinematics of
24 rotations gives joints and joint transforms (``forward_kinematics``); MediaPipe landmarks
skin only the few vertices they use (``landmarks``). Full mesh skinning (``vertices``) is for
output and tests, never for inner loops.
"""
import os

import torch

from smplcore.body_model_file import BodyModelArrays, BodyModelError, default_body_model_path, load_body_model_file
from smplcore.skeleton import NUM_JOINTS, PARENTS

from . import landmarks as landmark_defs
from .geometry import axis_angle_to_matrix

__all__ = ["BodyModel", "BodyModelError"]


class BodyModel(torch.nn.Module):
    def __init__(self, arrays: BodyModelArrays, device="cpu", dtype=torch.float32):
        super().__init__()
        self.path = arrays.path
        self.model_id = arrays.model_id
        self.num_betas = int(arrays.shapedirs.shape[-1])
        self.faces = arrays.faces
        t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
        self.register_buffer("v_template", t(arrays.v_template))
        self.register_buffer("shapedirs", t(arrays.shapedirs))
        self.register_buffer("j_regressor", t(arrays.j_regressor))
        self.register_buffer("weights", t(arrays.weights))
        self.register_buffer("posedirs", None if arrays.posedirs is None else t(arrays.posedirs).T.contiguous())
        # rest joints are linear in betas: J(b) = J0 + Jdirs b, no mesh needed
        self.register_buffer("joint_template", self.j_regressor @ self.v_template)
        self.register_buffer("joint_dirs", torch.einsum("jv,vcb->jcb", self.j_regressor, self.shapedirs))

        ids, vw, jw = landmark_defs.definition_for(arrays)
        self.register_buffer("lm_ids", torch.as_tensor(ids, dtype=torch.long))
        self.register_buffer("lm_vertex_weights", t(vw))
        self.register_buffer("lm_joint_weights", t(jw))
        # LBS is linear, so each landmark folds into per-joint rest points:
        # lm = sum_j R_j X[l, j] + c[l, j] * offset_j, with X linear in betas
        per_joint = self.lm_vertex_weights[..., None] * self.weights[self.lm_ids]   # (33, K, 24)
        self.register_buffer("lm_x0", torch.einsum("lkj,lkc->ljc", per_joint, self.v_template[self.lm_ids]))
        self.register_buffer("lm_xdirs", torch.einsum("lkj,lkcb->ljcb", per_joint, self.shapedirs[self.lm_ids]))
        self.register_buffer("lm_c", per_joint.sum(1))
        # fitted offsets that move rigidly with one bone fold into that bone's rest point
        # (the bone: the joint that carries most of the landmark's weight, unless the file says)
        offsets, bones = landmark_defs.offsets_for(arrays, (self.lm_c + self.lm_joint_weights).argmax(1).cpu().numpy())
        self.register_buffer("lm_bones", torch.as_tensor(bones, dtype=torch.long))
        self.lm_x0[torch.arange(len(bones)), self.lm_bones] += t(offsets)
        self.parents = list(PARENTS)
        self.to(device)

    @classmethod
    def load(cls, path=None, device="cpu") -> "BodyModel":
        """The shipped model when ``path`` is None, else an official SMPL .pkl/.npz."""
        return cls(load_body_model_file(path or default_body_model_path()), device=device)

    @property
    def device(self):
        return self.v_template.device

    # --- shape ---------------------------------------------------------------------------
    def _betas(self, betas, batch):
        if betas is None:
            return self.v_template.new_zeros(batch, self.num_betas)
        betas = betas.to(self.v_template)
        if betas.shape[-1] < self.num_betas:
            betas = torch.nn.functional.pad(betas, (0, self.num_betas - betas.shape[-1]))
        return betas[..., : self.num_betas]

    def rest_joints(self, betas) -> torch.Tensor:
        """(N, 10) -> (N, 24, 3) rest-pose joints."""
        betas = self._betas(betas, 1)
        return self.joint_template + torch.einsum("jcb,nb->njc", self.joint_dirs, betas)

    def stature(self, betas) -> torch.Tensor:
        """(N, 10) -> (N,) standing height in metres: the rest mesh's extent along Y (up)."""
        betas = self._betas(betas, 1)
        y = self.v_template[:, 1] + torch.einsum("vb,nb->nv", self.shapedirs[:, 1], betas)
        return y.max(1).values - y.min(1).values

    def with_stature(self, betas, height: float) -> torch.Tensor:
        """(10,) betas of a body ``height`` metres tall, the smallest change of ``betas`` that
        gets there (the rest mesh is linear in the betas; Newton steps along the gradient)."""
        betas = self._betas(betas, 1).reshape(-1).clone()
        for _ in range(4):
            b = betas.detach().requires_grad_(True)
            with torch.enable_grad():
                gap = float(height) - self.stature(b[None])[0]
                (gradient,) = torch.autograd.grad(gap, b)
            gap = float(gap.detach())
            if abs(gap) < 1e-4:
                break
            betas = betas - gap * gradient / gradient.square().sum()
        return betas.detach()

    # --- kinematics ----------------------------------------------------------------------
    def forward_kinematics(self, rotmats, rest_joints):
        """rotmats (N, 24, 3, 3) local rotations, rest_joints (N or 1, 24, 3).

        Returns world rotations (N, 24, 3, 3) and posed joints (N, 24, 3), with the pelvis
        rotating about its rest position (SMPL convention; add ``trans`` afterwards)."""
        n = rotmats.shape[0]
        rest_joints = rest_joints.expand(n, -1, -1)
        rel = rest_joints.clone()
        rel[:, 1:] = rest_joints[:, 1:] - rest_joints[:, self.parents[1:]]
        world_r = [rotmats[:, 0]]
        world_t = [rest_joints[:, 0]]
        for j in range(1, NUM_JOINTS):
            p = self.parents[j]
            world_r.append(world_r[p] @ rotmats[:, j])
            world_t.append(world_t[p] + (world_r[p] @ rel[:, j, :, None])[..., 0])
        return torch.stack(world_r, 1), torch.stack(world_t, 1)

    def _skinning(self, world_r, world_j, rest_joints):
        """Per-joint affine maps (rest -> posed): x' = R x + (J - R J_rest)."""
        offset = world_j - (world_r @ rest_joints.expand_as(world_j)[..., None])[..., 0]
        return world_r, offset

    def joints(self, poses, betas=None, trans=None):
        """poses (N, 72) axis-angle or (N, 24, 3, 3) -> joints (N, 24, 3)."""
        rotmats = self._rotmats(poses)
        _, j = self.forward_kinematics(rotmats, self.rest_joints(self._betas(betas, rotmats.shape[0])))
        return j if trans is None else j + trans[:, None]

    def landmarks(self, poses, betas=None, trans=None, rest_joints=None):
        """MediaPipe's 33 landmarks (N, 33, 3), skinning only the vertices they use."""
        rotmats = self._rotmats(poses)
        n = rotmats.shape[0]
        betas = self._betas(betas, n)
        if rest_joints is None:
            rest_joints = self.rest_joints(betas)
        world_r, world_j = self.forward_kinematics(rotmats, rest_joints)
        r, off = self._skinning(world_r, world_j, rest_joints)
        x = self.lm_x0 + torch.einsum("ljcb,nb->nljc", self.lm_xdirs, betas)
        out = torch.einsum("njab,nljb->nla", r, x) + torch.einsum("lj,nja->nla", self.lm_c, off) \
            + torch.einsum("lj,njc->nlc", self.lm_joint_weights, world_j)
        return out if trans is None else out + trans[:, None]

    def vertices(self, poses, betas=None, trans=None):
        """Full mesh (N, V, 3) by linear blend skinning (plus pose correctives if the file has any)."""
        rotmats = self._rotmats(poses)
        n = rotmats.shape[0]
        betas = self._betas(betas, n)
        v = self.v_template + torch.einsum("vcb,nb->nvc", self.shapedirs, betas)
        rest_joints = torch.einsum("jv,nvc->njc", self.j_regressor, v)
        if self.posedirs is not None:
            eye = torch.eye(3, dtype=v.dtype, device=v.device)
            feat = (rotmats[:, 1:] - eye).reshape(n, -1)
            v = v + (feat @ self.posedirs).reshape(n, -1, 3)
        world_r, world_j = self.forward_kinematics(rotmats, rest_joints)
        r, off = self._skinning(world_r, world_j, rest_joints)
        a = torch.einsum("vj,njab->nvab", self.weights, r)
        b = torch.einsum("vj,nja->nva", self.weights, off)
        out = (a @ v[..., None])[..., 0] + b
        return out if trans is None else out + trans[:, None]

    def skin(self, ids, rotmats, betas=None, trans=None):
        """Only the vertices ``ids`` (N, K, 3), without pose correctives: cheap for a few hundred."""
        n = rotmats.shape[0]
        betas = self._betas(betas, n)
        v = self.v_template[ids] + torch.einsum("vcb,nb->nvc", self.shapedirs[ids], betas)
        rest_joints = self.rest_joints(betas)
        world_r, world_j = self.forward_kinematics(rotmats, rest_joints)
        r, off = self._skinning(world_r, world_j, rest_joints)
        w = self.weights[ids]
        out = torch.einsum("vj,njab,nvb->nva", w, r, v) + torch.einsum("vj,nja->nva", w, off)
        return out if trans is None else out + trans[:, None]

    def _rotmats(self, poses):
        poses = poses.to(self.v_template)
        if poses.dim() == 4:
            return poses
        return axis_angle_to_matrix(poses.reshape(poses.shape[0], NUM_JOINTS, 3))


def resolve_body_model_path(path=None) -> str:
    path = path or default_body_model_path()
    if not os.path.isfile(path):
        raise BodyModelError(f"body model file not found: {path}")
    return path
