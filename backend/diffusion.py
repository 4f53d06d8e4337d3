"""The pose diffusion model of ScoreHMR: cosine schedule, epsilon-prediction denoiser, DDIM.

State x0: 24 joint rotations (global orientation in the camera frame + 23 body joints) in 6D,
144 numbers. Condition c: the normalised 2D landmark observation (see ``condition.py``), or
the learned null token (classifier-free dropout), which makes the same network an
unconditional pose prior as well.

Denoiser (ScoreHMR Fig. 5): sinusoidal time embedding -> MLP; Linear(144->144); 3 residual
blocks, each: time scale/shift (h * (1 + scale) + shift), concat the condition embedding,
LayerNorm -> Linear(->1024) -> GELU -> LayerNorm -> Linear(1024->144) -> GELU, residual add;
Linear(144->144) out.
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

POSE_DIM = 24 * 6


@dataclass
class PriorConfig:
    cond_dim: int = 102          # condition.CONDITION_DIM
    cond_embed: int = 256
    time_embed: int = 128
    hidden: int = 1024
    blocks: int = 3
    timesteps: int = 1000
    cosine_s: float = 0.008


def cosine_alphas_cumprod(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """alpha-bar_t for t = 0..T-1 (Nichol & Dhariwal), float64 for accuracy."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64)
    f = torch.cos(((steps / timesteps) + s) / (1 + s) * math.pi / 2) ** 2
    betas = torch.clamp(1 - f[1:] / f[:-1], max=0.999)
    return torch.cumprod(1 - betas, dim=0)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResidualBlock(nn.Module):
    def __init__(self, dim, cond_dim, time_dim, hidden):
        super().__init__()
        self.scale_shift = nn.Linear(time_dim, 2 * dim)
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim + cond_dim), nn.Linear(dim + cond_dim, hidden), nn.GELU(),
            nn.LayerNorm(hidden), nn.Linear(hidden, dim), nn.GELU(),
        )

    def forward(self, h, t_emb, c_emb):
        scale, shift = self.scale_shift(t_emb).chunk(2, dim=-1)
        return h + self.mlp(torch.cat([h * (1 + scale) + shift, c_emb], dim=-1))


class Denoiser(nn.Module):
    """epsilon(x_t, t, c); ``c=None`` or ``drop`` rows use the null condition."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        self.config = config
        d = config.time_embed
        self.time_mlp = nn.Sequential(nn.Linear(d, d * 4), nn.GELU(), nn.Linear(d * 4, d * 4))
        self.cond_mlp = nn.Sequential(nn.Linear(config.cond_dim, config.cond_embed), nn.GELU(),
                                      nn.Linear(config.cond_embed, config.cond_embed))
        self.null_cond = nn.Parameter(torch.zeros(config.cond_embed))
        self.inp = nn.Linear(POSE_DIM, POSE_DIM)
        self.blocks = nn.ModuleList(
            ResidualBlock(POSE_DIM, config.cond_embed, d * 4, config.hidden) for _ in range(config.blocks))
        self.out = nn.Linear(POSE_DIM, POSE_DIM)

    def embed_condition(self, c, batch, drop=None):
        if c is None:
            return self.null_cond.expand(batch, -1)
        emb = self.cond_mlp(c)
        if drop is not None:
            emb = torch.where(drop[:, None], self.null_cond.expand_as(emb), emb)
        return emb

    def forward(self, x_t, t, c=None, drop=None, c_emb=None):
        t_emb = self.time_mlp(timestep_embedding(t, self.config.time_embed))
        if c_emb is None:
            c_emb = self.embed_condition(c, x_t.shape[0], drop)
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, t_emb, c_emb)
        return self.out(h)


class PoseDiffusion(nn.Module):
    """Denoiser plus its noise schedule: training loss, q_sample, DDIM steps."""

    def __init__(self, config: PriorConfig | None = None):
        super().__init__()
        self.config = config or PriorConfig()
        self.denoiser = Denoiser(self.config)
        ab = cosine_alphas_cumprod(self.config.timesteps, self.config.cosine_s)
        self.register_buffer("alphas_cumprod", ab.float())

    @property
    def timesteps(self):
        return self.config.timesteps

    def alpha_bar(self, t):
        """alpha-bar at integer steps; t = -1 means the clean signal (alpha-bar = 1)."""
        t = torch.as_tensor(t, device=self.alphas_cumprod.device)
        return torch.where(t >= 0, self.alphas_cumprod[t.clamp(min=0)], torch.ones_like(self.alphas_cumprod[0]))

    def _ab(self, t):
        """alpha-bar shaped to broadcast over a batch of states (t scalar or per row)."""
        ab = self.alpha_bar(t)
        return ab[:, None] if ab.dim() else ab

    def q_sample(self, x0, t, noise):
        ab = self._ab(t)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def predict_x0(self, x_t, t, eps):
        ab = self._ab(t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def loss(self, x0, c, cond_drop_prob=0.15, generator=None):
        n = x0.shape[0]
        t = torch.randint(0, self.timesteps, (n,), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        drop = torch.rand(n, device=x0.device, generator=generator) < cond_drop_prob
        eps = self.denoiser(self.q_sample(x0, t, noise), t, c, drop=drop)
        return torch.mean((eps - noise) ** 2)

    def ddim_step(self, x_t, eps, t_from, t_to, clip=False):
        """Deterministic DDIM (eta = 0) move between any two noise levels, either direction.
        ``clip``: keep the predicted x0 inside [-1, 1] (entries of rotation matrices), which
        sampling from pure noise needs, where sqrt(alpha-bar) is tiny and x0 explodes."""
        x0 = self.predict_x0(x_t, t_from, eps)
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x_t - self._ab(t_from).sqrt() * x0) / (1 - self._ab(t_from)).sqrt()
        ab_to = self._ab(t_to)
        return ab_to.sqrt() * x0 + (1 - ab_to).sqrt() * eps

    @torch.no_grad()
    def sample(self, n, c=None, steps=50, generator=None, device=None):
        """Plain DDIM sampling from noise (conditional when c is given)."""
        device = device or self.alphas_cumprod.device
        x = torch.randn((n, POSE_DIM), generator=generator, device=device)
        c_emb = self.denoiser.embed_condition(c, n)
        ts = torch.linspace(self.timesteps - 1, 0, steps, device=device).round().long().tolist()
        for i, t in enumerate(ts):
            t_next = ts[i + 1] if i + 1 < len(ts) else -1
            tt = torch.full((n,), t, device=device, dtype=torch.long)
            eps = self.denoiser(x, tt, c_emb=c_emb)
            x = self.ddim_step(x, eps, tt, torch.full((n,), t_next, device=device, dtype=torch.long), clip=True)
        return x

    def checkpoint(self, extra=None):
        return {"config": asdict(self.config), "state_dict": self.state_dict(), **(extra or {})}

    @classmethod
    def from_checkpoint(cls, ckpt):
        model = cls(PriorConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["state_dict"])
        return model


class EMA:
    """Exponential moving average of the weights, used for inference."""

    def __init__(self, model: nn.Module, beta: float = 0.995):
        self.beta = beta
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module):
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(self.beta).add_(v.detach(), alpha=1 - self.beta)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self):
        return self.shadow
