"""Synthetic training pairs: real motion posed on the body model, seen through random cameras
with detector-like noise. Everything is batched torch, generated on the fly.

A pair is (x0, c): x0 the 24 rotations in 6D with the global orientation in the camera frame,
c the normalised noisy 2D landmark observation (``condition.make_condition``).
"""
import math

import numpy as np
import torch

from backend.camera import project
from backend.condition import make_condition, person_size
from backend.geometry import axis_angle_to_matrix, axis_rotation, matrix_to_rot6d
from smplcore.skeleton import JOINT_INDEX, MIRROR, NUM_JOINTS

from .joint_limits import sample_within_limits

_MIRROR_M = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
# kinematic chains swapped between poses by per-limb recombination
CHAINS = [
    [JOINT_INDEX[n] for n in ("left_collar", "left_shoulder", "left_elbow", "left_wrist", "left_hand")],
    [JOINT_INDEX[n] for n in ("right_collar", "right_shoulder", "right_elbow", "right_wrist", "right_hand")],
    [JOINT_INDEX[n] for n in ("left_hip", "left_knee", "left_ankle", "left_foot")],
    [JOINT_INDEX[n] for n in ("right_hip", "right_knee", "right_ankle", "right_foot")],
    [JOINT_INDEX[n] for n in ("spine1", "spine2", "spine3", "neck", "head")],
]
IMAGE_SIZES = torch.tensor([[1920.0, 1080.0], [1080.0, 1920.0], [1280.0, 720.0], [640.0, 480.0]])


class MotionBank:
    """All training frames as rotation matrices (world frame, Y up), with their clip ids."""

    def __init__(self, clips: dict):
        names = sorted(clips)
        poses = [np.asarray(clips[n], dtype=np.float32).reshape(-1, NUM_JOINTS, 3) for n in names]
        self.clip_names = names
        self.clip_of_frame = torch.cat([torch.full((len(p),), i) for i, p in enumerate(poses)])
        self.rotmats = axis_angle_to_matrix(torch.from_numpy(np.concatenate(poses)))

    def __len__(self):
        return self.rotmats.shape[0]


def mirror(rotmats: torch.Tensor) -> torch.Tensor:
    """Left/right mirror image of poses (…, 24, 3, 3): swap sides and reflect in X."""
    m = _MIRROR_M.to(rotmats)
    return m @ rotmats[..., list(MIRROR), :, :] @ m


class SyntheticObservations:
    def __init__(self, bank: MotionBank, body, noise_model=None, generator=None,
                 limit_pose_fraction=0.1, recombine_prob=0.3, mirror_prob=0.5, world_noise=None):
        """``world_noise`` (world_noise.WorldNoise): batches also carry MediaPipe-like world
        landmarks (``world``)."""
        self.bank, self.body, self.noise, self.world_noise = bank, body, noise_model, world_noise
        self.g = generator or torch.Generator().manual_seed(0)
        self.limit_pose_fraction = limit_pose_fraction
        self.recombine_prob = recombine_prob
        self.mirror_prob = mirror_prob

    def _rand(self, *shape):
        return torch.rand(shape, generator=self.g)

    def sample_poses(self, n):
        """(n, 24, 3, 3) world-frame poses: real frames, augmented."""
        idx = torch.randint(0, len(self.bank), (n,), generator=self.g)
        rot = self.bank.rotmats[idx].clone()
        # per-limb recombination: a chain's local rotations from another frame
        for chain in CHAINS:
            swap = torch.nonzero(self._rand(n) < self.recombine_prob / len(CHAINS)).flatten()
            donor = torch.randint(0, len(self.bank), (len(swap),), generator=self.g)
            joints = torch.tensor(chain)
            rot[swap[:, None], joints[None]] = self.bank.rotmats[donor[:, None], joints[None]]
        flip = self._rand(n) < self.mirror_prob
        rot[flip] = mirror(rot[flip])
        # coverage: body poses sampled inside anatomical limits, upright root
        wide = self._rand(n) < self.limit_pose_fraction
        k = int(wide.sum())
        if k:
            aa = sample_within_limits(k, generator=self.g)
            body_rot = axis_angle_to_matrix(aa)
            body_rot[:, 0] = rot[wide][:, 0]
            rot[wide] = body_rot
        # any heading: yaw about the world vertical
        rot[:, 0] = axis_rotation("y", self._rand(n) * 2 * math.pi) @ rot[:, 0]
        return rot

    def sample_cameras(self, n):
        """Rotation world -> camera (n,3,3), focal (n,), image size (n,2), target person height fraction."""
        size = IMAGE_SIZES[torch.randint(0, len(IMAGE_SIZES), (n,), generator=self.g)]
        fov = (40 + 35 * self._rand(n)) * math.pi / 180
        focal = size[:, 0] / 2 / torch.tan(fov / 2)
        pitch = (-15 + 40 * self._rand(n)) * math.pi / 180     # mostly looking slightly down
        roll = torch.randn((n,), generator=self.g) * 4 * math.pi / 180
        y_down = torch.diag(torch.tensor([1.0, -1.0, -1.0]))     # Y-up world -> OpenCV camera facing -Z
        r_wc = axis_rotation("z", roll) @ axis_rotation("x", -pitch) @ y_down
        return r_wc, focal, size

    def batch(self, n):
        rot = self.sample_poses(n)
        betas = (torch.randn((n, 10), generator=self.g)).clamp(-2.5, 2.5)
        r_wc, focal, size = self.sample_cameras(n)
        rot_cam = rot.clone()
        rot_cam[:, 0] = r_wc @ rot[:, 0]
        rest = self.body.rest_joints(betas)
        # place the person: size in the frame 30-95 % of the shorter side, anywhere near the centre
        frac = 0.3 + 0.65 * self._rand(n)
        depth = focal * 1.7 / (frac * size.min(1).values)
        offset = (self._rand(n, 2) - 0.5) * 0.5 * size / focal[:, None] * depth[:, None]
        pelvis = torch.cat([offset, depth[:, None]], 1)
        trans = pelvis - rest[:, 0]
        with torch.no_grad():
            lm3d = self.body.landmarks(rot_cam, betas, trans, rest_joints=rest)
        principal = size / 2
        kp = project(lm3d, focal, principal)
        if self.noise is not None:
            obs = self.noise.apply(kp, person_size(kp), generator=self.g)
        else:
            obs = torch.cat([kp, torch.ones_like(kp[..., :1])], -1)
        inside = (obs[..., 0] >= 0) & (obs[..., 0] < size[:, None, 0]) & (obs[..., 1] >= 0) & (obs[..., 1] < size[:, None, 1])
        obs[..., 2] = torch.where(inside, obs[..., 2], torch.zeros_like(obs[..., 2]))
        extra = {}
        if self.world_noise is not None:
            extra["world"] = self.world_noise.apply(lm3d, obs, focal, principal, generator=self.g, temporal=False)
        return extra | {
            "x0": matrix_to_rot6d(rot_cam).reshape(n, -1), "c": make_condition(obs, focal, principal),
            "rotmats": rot_cam, "betas": betas, "trans": trans, "keypoints": obs, "clean_keypoints": kp,
            "focal": focal, "principal": principal, "image_size": size,
        }


def look_at(camera_pos: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """World (Y up) -> OpenCV camera rotation for a level camera at camera_pos looking at target."""
    forward = torch.nn.functional.normalize(target - camera_pos, dim=0)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, torch.tensor([0.0, 1.0, 0.0])), dim=0)
    down = torch.linalg.cross(forward, right)
    return torch.stack([right, down, forward])


def observe_sequence(poses, trans, body, noise, generator, fps=30.0, image_size=(1280.0, 720.0),
                     heights=(0.8, 1.6), roll_deg=0.0, world_noise=None):
    """A whole clip (T, 72) + (T, 3) in a Y-up world (floor y = 0), filmed by one static camera
    (at a random height in ``heights``, looking at the clip's centre, turned by ``roll_deg``
    about its view axis) with temporal detector noise: what a video of it would give the
    pipeline, with the ground truth (``camera_rotation`` world -> camera, ``camera_position``).
    With ``world_noise`` (world_noise.WorldNoise) also MediaPipe-like world landmarks (``world``)."""
    g = generator
    poses = torch.as_tensor(poses, dtype=torch.float32)
    trans = torch.as_tensor(trans, dtype=torch.float32)
    t = poses.shape[0]
    rot = axis_angle_to_matrix(poses.reshape(t, NUM_JOINTS, 3))
    betas = torch.randn((1, 10), generator=g).clamp(-2, 2)
    rest = body.rest_joints(betas)
    pelvis = rest[0, 0] + trans
    centre = pelvis.mean(0)
    extent = float((pelvis.amax(0) - pelvis.amin(0)).amax()) + 1.9
    size = torch.tensor(image_size)
    fov = math.radians(45 + 20 * float(torch.rand((), generator=g)))
    focal = float(size[0]) / 2 / math.tan(fov / 2)
    distance = focal * extent / (0.85 * float(size.min()))
    yaw = float(torch.rand((), generator=g)) * 2 * math.pi
    height = heights[0] + (heights[1] - heights[0]) * float(torch.rand((), generator=g))
    cam = centre + torch.tensor([math.sin(yaw) * distance, 0.0, math.cos(yaw) * distance])
    cam[1] = height
    r_wc = look_at(cam, centre)
    if roll_deg:
        r_wc = axis_rotation("z", torch.tensor(math.radians(roll_deg))) @ r_wc
    rot_cam = rot.clone()
    rot_cam[:, 0] = r_wc @ rot[:, 0]
    trans_cam = (r_wc @ (rest[0, 0] + trans - cam).T).T - rest[0, 0]
    with torch.no_grad():
        lm = body.landmarks(rot_cam, betas.expand(t, -1), trans_cam, rest_joints=rest)
    principal = size / 2
    kp = project(lm, torch.tensor(focal), principal)
    obs = noise.apply(kp, generator=g, temporal=True, fps=fps) if noise is not None else \
        torch.cat([kp, torch.ones_like(kp[..., :1])], -1)
    inside = (obs[..., 0] >= 0) & (obs[..., 0] < size[0]) & (obs[..., 1] >= 0) & (obs[..., 1] < size[1])
    obs[..., 2] = torch.where(inside, obs[..., 2], torch.zeros_like(obs[..., 2]))
    world = None
    if world_noise is not None:
        world = world_noise.apply(lm, obs, torch.full((t,), focal), principal.expand(t, 2), generator=g)
    return {"rotmats": rot_cam, "trans": trans_cam, "betas": betas[0], "keypoints": obs, "clean_keypoints": kp,
            "focal": focal, "image_size": (float(size[0]), float(size[1])), "camera_rotation": r_wc,
            "camera_position": cam, "world": world}
