"""The fast initial per-frame estimate (the role HMR 2.0 plays in the paper): an MLP from the
normalised landmark observation to the 24 rotations (6D) and betas; the camera translation
then follows in closed form from the 2D landmarks (``solver.initial_state``)."""
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from .diffusion import POSE_DIM


@dataclass
class InitConfig:
    cond_dim: int = 102
    world_dim: int = 0      # condition.WORLD_FEATURES when MediaPipe's world landmarks are an input
    hidden: int = 1024
    layers: int = 3
    num_betas: int = 10


class InitEstimator(nn.Module):
    def __init__(self, config: InitConfig | None = None):
        super().__init__()
        self.config = config = config or InitConfig()
        layers, d = [], config.cond_dim + config.world_dim
        for _ in range(config.layers):
            layers += [nn.Linear(d, config.hidden), nn.LayerNorm(config.hidden), nn.GELU()]
            d = config.hidden
        self.trunk = nn.Sequential(*layers)
        self.pose_head = nn.Linear(d, POSE_DIM)
        self.betas_head = nn.Linear(d, config.num_betas)
        # start from the identity rotation in 6D, so early training is stable
        with torch.no_grad():
            self.pose_head.weight.mul_(0.01)
            self.pose_head.bias.copy_(torch.tensor([1.0, 0, 0, 1.0, 0, 0]).repeat(24))

    def forward(self, c, w=None):
        """c (N, cond_dim) the 2D condition; w (N, world_dim) ``condition.world_features``, or
        None (no world landmarks: the estimator that takes them sees its "absent" input)."""
        if self.config.world_dim:
            c = torch.cat([c, w if w is not None else c.new_zeros(c.shape[0], self.config.world_dim)], 1)
        h = self.trunk(c)
        return self.pose_head(h), self.betas_head(h)

    def checkpoint(self):
        return {"config": asdict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, ckpt):
        model = cls(InitConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["state_dict"])
        return model
