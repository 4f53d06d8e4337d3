"""The observation the diffusion model and the initial estimator are conditioned on.

From MediaPipe's 33 landmarks (pixels + visibility) of one frame: the landmarks relative to
the person's box, divided by its size (resolution-free), their visibilities, and where that
box sits in the camera (box centre relative to the principal point and box size, both over
the focal length), which carries the perspective the body orientation is seen under.
"""
import torch

from smplcore.skeleton import NUM_LANDMARKS

CONDITION_DIM = NUM_LANDMARKS * 3 + 3
WORLD_FEATURES = NUM_LANDMARKS * 3 + 1   # world_features: MediaPipe's 3D landmarks and a flag
VISIBLE = 0.3      # landmarks below this confidence do not shape the box and are zeroed
MIN_VISIBLE = 6    # visible landmarks a frame needs to count as showing the person


def observed(kp: torch.Tensor) -> torch.Tensor:
    """(..., 33, 3) -> (...) bool: the frame shows the person (enough visible landmarks)."""
    return (kp[..., 2] > VISIBLE).sum(-1) >= MIN_VISIBLE


def person_size(points: torch.Tensor) -> torch.Tensor:
    """(..., K, 2) pixels -> (...): the larger side of the points' 2D bounding box: the unit
    landmark errors, the detector noise and the condition are measured in
    (``smplcore.image.person_size`` in numpy)."""
    return (points.amax(-2) - points.amin(-2)).amax(-1)


def person_box(kp: torch.Tensor, min_conf: float = VISIBLE):
    """Centre (N, 2) and size (N,) of the box around confident landmarks (``person_size`` of
    those; any two of them make a box, as the prior was trained with)."""
    visible = kp[..., 2] > min_conf
    big = torch.finfo(kp.dtype).max
    lo = torch.where(visible[..., None], kp[..., :2], torch.full_like(kp[..., :2], big)).amin(1)
    hi = torch.where(visible[..., None], kp[..., :2], torch.full_like(kp[..., :2], -big)).amax(1)
    enough = visible.sum(1) >= 2
    centre = torch.where(enough[:, None], (lo + hi) / 2, torch.zeros_like(lo))
    size = torch.where(enough, (hi - lo).amax(1), torch.ones_like(lo[:, 0]))
    return centre, size.clamp(min=1.0)


def make_condition(kp: torch.Tensor, focal, principal) -> torch.Tensor:
    """kp (N, 33, 3) pixels + confidence; focal (N,) or scalar; principal (N, 2) or (2,)."""
    n = kp.shape[0]
    focal = torch.as_tensor(focal, dtype=kp.dtype, device=kp.device).expand(n)
    principal = torch.as_tensor(principal, dtype=kp.dtype, device=kp.device).expand(n, 2)
    centre, size = person_box(kp)
    visible = (kp[..., 2] > VISIBLE).to(kp.dtype)
    xy = (kp[..., :2] - centre[:, None]) / size[:, None, None] * visible[..., None]
    where = torch.cat([(centre - principal) / focal[:, None], (size / focal)[:, None]], dim=1)
    return torch.cat([xy.reshape(n, -1), kp[..., 2].clamp(0, 1), where], dim=1)


def world_features(world: torch.Tensor) -> torch.Tensor:
    """(N, 33, 3) MediaPipe world landmarks (metres, hip-centred, in the axes of a camera looking
    at the hips; all zero on frames without them) -> (N, 100): the landmarks and a flag for the
    frames that have them. The initial estimator's second input: a 3D pose from a detector that
    saw far more people than our training data, which it turns into the body model's rotations."""
    present = (world.abs().sum((1, 2)) > 0).to(world.dtype)[:, None]
    return torch.cat([world.reshape(world.shape[0], -1) * present, present], 1)
