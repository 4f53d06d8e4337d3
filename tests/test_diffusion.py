import numpy as np
import torch

from backend.body_model import BodyModel
from backend.diffusion import POSE_DIM, PoseDiffusion, PriorConfig, cosine_alphas_cumprod
from backend.geometry import axis_angle_to_matrix
from scorehmr_research.synthetic import MotionBank, SyntheticObservations, mirror


def test_cosine_schedule_is_monotonic_from_one_to_zero():
    ab = cosine_alphas_cumprod(1000)
    assert ab.shape == (1000,) and 0.99 < ab[0] <= 1 and ab[-1] < 1e-3
    assert torch.all(ab[1:] < ab[:-1])


def test_q_sample_then_predict_x0_with_true_noise_recovers_x0():
    model = PoseDiffusion()
    torch.manual_seed(0)
    x0, noise = torch.randn(64, POSE_DIM), torch.randn(64, POSE_DIM)
    # float32: at the very last steps sqrt(alpha-bar) ~ 1e-3 amplifies round-off
    t = torch.randint(0, 900, (64,))
    x0_hat = model.predict_x0(model.q_sample(x0, t, noise), t, noise)
    assert torch.allclose(x0_hat, x0, atol=1e-3)


def test_ddim_inversion_and_sampling_are_inverse_for_fixed_eps():
    model = PoseDiffusion()
    x0, eps = torch.randn(8, POSE_DIM), torch.randn(8, POSE_DIM)
    t0, t1 = torch.full((8,), -1), torch.full((8,), 50)
    x_t = model.ddim_step(x0, eps, t0, t1)
    assert torch.allclose(model.ddim_step(x_t, eps, t1, t0), x0, atol=1e-4)


def _tiny_synth(seed=0):
    rng = np.random.default_rng(seed)
    clips = {"walk": np.cumsum(rng.normal(scale=0.01, size=(200, 72)), axis=0)}
    return SyntheticObservations(MotionBank(clips), BodyModel.load(), noise_model=None,
                                 generator=torch.Generator().manual_seed(seed))


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    synth = _tiny_synth()
    model = PoseDiffusion(PriorConfig(hidden=256))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = synth.batch(256)
    g = torch.Generator().manual_seed(1)
    first = model.loss(batch["x0"], batch["c"], generator=torch.Generator().manual_seed(1)).item()
    for _ in range(60):
        loss = model.loss(batch["x0"], batch["c"], generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = model.loss(batch["x0"], batch["c"], generator=torch.Generator().manual_seed(1)).item()
    assert last < 0.7 * first


def test_checkpoint_round_trip_gives_finite_poses(tmp_path):
    model = PoseDiffusion(PriorConfig(hidden=128))
    torch.save(model.checkpoint(), tmp_path / "p.pt")
    back = PoseDiffusion.from_checkpoint(torch.load(tmp_path / "p.pt", map_location="cpu", weights_only=True))
    x = back.sample(4, steps=10, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, POSE_DIM) and torch.isfinite(x).all()


def test_mirror_is_an_involution_and_swaps_sides():
    torch.manual_seed(0)
    rot = axis_angle_to_matrix(torch.randn(5, 24, 3) * 0.5)
    assert torch.allclose(mirror(mirror(rot)), rot, atol=1e-6)
    body = BodyModel.load()
    j = body.joints(rot)
    jm = body.joints(mirror(rot))
    from smplcore.skeleton import MIRROR
    flipped = j[:, list(MIRROR)] * torch.tensor([-1.0, 1.0, 1.0])
    # the shipped model is symmetric to < 1 mm, so mirrored motion has mirrored joints
    assert (jm - flipped).abs().max() < 2e-3


def test_synthetic_batch_reprojects_exactly_without_noise():
    synth = _tiny_synth()
    b = synth.batch(32)
    body = synth.body
    lm = body.landmarks(b["rotmats"], b["betas"], b["trans"])
    from backend.camera import project
    assert (project(lm, b["focal"], b["principal"]) - b["clean_keypoints"]).abs().max() < 1e-2
    assert torch.isfinite(b["c"]).all() and b["c"].shape == (32, 102)


def test_an_estimator_gaining_the_world_input_starts_where_it_was_and_learns_to_read_it():
    from backend.condition import WORLD_FEATURES, world_features
    from backend.init_estimator import InitConfig, InitEstimator
    from scorehmr_research.train_prior import init_loss, widened
    from scorehmr_research.world_noise import WorldNoise

    torch.manual_seed(0)
    synth = _tiny_synth()
    synth.world_noise = WorldNoise.load()
    batch = synth.batch(128)
    batch["w"] = world_features(batch["world"])
    old = InitEstimator(InitConfig(hidden=128))
    new = InitEstimator(InitConfig(hidden=128, world_dim=WORLD_FEATURES))
    new.load_state_dict(widened(old.state_dict(), old.checkpoint()["config"], new))
    with torch.no_grad():
        assert torch.allclose(new(batch["c"], batch["w"])[0], old(batch["c"])[0])
        assert torch.allclose(new(batch["c"])[0], old(batch["c"])[0])   # no world landmarks: the "absent" input
    body = BodyModel.load()
    opt = torch.optim.Adam(new.parameters(), lr=1e-3)
    first = init_loss(new, body, batch).item()
    for _ in range(40):
        loss = init_loss(new, body, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert init_loss(new, body, batch).item() < 0.7 * first
    with torch.no_grad():   # the world input now shapes the estimate
        assert (new(batch["c"], batch["w"])[0] - new(batch["c"])[0]).abs().max() > 1e-2
