"""``python -m scorehmr_research train-prior``: train the ScoreHMR pose diffusion prior and the initial
estimator on synthetic observations of real motion. Seeded, resumable, CPU or CUDA.

Motion input: see training_set.py. The checkpoint holds only what inference needs; the
SMPLify baseline's pose prior is fitted on the same clips by ``fit-pose-gmm`` (``fit_pose_gmm_command``).
"""
import json
import logging
import os
import time

import torch

from backend.diffusion import EMA, PoseDiffusion
from backend.geometry import matrix_to_axis_angle, rot6d_to_matrix
from backend.condition import WORLD_FEATURES, world_features
from backend.init_estimator import InitConfig, InitEstimator

from .smplify import fit_pose_gmm, save_pose_gmm
from .synthetic import MotionBank, SyntheticObservations, mirror
from .training_set import load_clips

log = logging.getLogger("scorehmr_research.train_prior")

def compact(state_dict):
    """Weights stored as float16 (loading casts them back): half the size in the repository.
    The noise schedule stays float32: alpha-bar near 1 needs the precision."""
    return {k: v.half() if v.is_floating_point() and k != "alphas_cumprod" else v for k, v in state_dict.items()}


WORLD_DROPOUT = 0.25  # share of training frames whose world landmarks are hidden (an input without them)


def init_loss(init_model, body, batch):
    x, betas = init_model(batch["c"], batch.get("w"))
    rot = rot6d_to_matrix(x.reshape(-1, 24, 6))
    rest = body.rest_joints(batch["betas"])
    _, j_pred = body.forward_kinematics(rot, rest)
    _, j_true = body.forward_kinematics(batch["rotmats"], rest)
    j_pred, j_true = j_pred - j_pred[:, :1], j_true - j_true[:, :1]
    return (torch.mean((rot - batch["rotmats"]) ** 2) + 10.0 * torch.mean((j_pred - j_true) ** 2)
            + 0.01 * torch.mean((betas - batch["betas"]) ** 2))


def widened(weights, config, init):
    """An initial estimator's ``weights`` (made with ``config``, without the world-landmark input)
    for ``init``, which takes it: the first layer's new input columns start at zero, so training
    starts from the old estimator's exact outputs."""
    if {**config, "world_dim": init.config.world_dim} != init.checkpoint()["config"]:
        raise SystemExit(f"the initial estimator of --init-from ({config}) differs by more than its world input")
    out = {}
    for name, target in init.state_dict().items():
        w = weights[name]
        if w.shape != target.shape:   # the first layer: (hidden, cond_dim) -> (hidden, cond_dim + world_dim)
            w = torch.cat([w, w.new_zeros(w.shape[0], target.shape[1] - w.shape[1])], 1)
        out[name] = w
    return out


def train(data, out, steps=20000, batch_size=256, lr=1e-4, seed=0, device="cpu", resume=False,
          exclude=(), amass_z_up=False, noise_model=None, log_every=200, save_every=2000, progress=True,
          renders=None, render_fraction=0.25, init_from=None, init_world=False, init_only=False):
    """``renders``: a folder of rendered training views mixed into every batch (a
    ``render_fraction`` of it); ``init_from``: start from that checkpoint's (EMA) weights
    instead of random ones, a fresh optimiser (fine-tuning). ``init_world``: the initial
    estimator also takes MediaPipe's world landmarks (synthetic ones from the world noise model,
    the real ones of the renders); ``init_only``: only the initial estimator is trained, the
    prior kept as ``init_from`` has it."""
    from backend.body_model import BodyModel

    from .observation_noise import NoiseModel

    state_path = out + ".state"
    if resume and not os.path.exists(state_path):
        # never silently start over: the checkpoint at ``out`` would be overwritten by a fresh run
        raise SystemExit(f"--resume: no training state at {state_path} (it is written beside the checkpoint "
                         "by the run that trained it and is not shipped); train without --resume to start over")
    torch.manual_seed(seed)
    clips, heldout = training_clips(data, exclude, amass_z_up)
    bank = MotionBank(clips)
    body = BodyModel.load(device="cpu")
    noise = NoiseModel.load(noise_model)
    gen = torch.Generator().manual_seed(seed)
    world_noise = None
    if init_world:
        from .world_noise import WorldNoise

        world_noise = WorldNoise.load()
    synth = SyntheticObservations(bank, body, noise, generator=gen, world_noise=world_noise)
    log.info("training on %d clips, %d frames", len(clips), len(bank))
    rendered = None
    if renders:
        from .rendered import RenderedObservations

        rendered = RenderedObservations(renders, generator=gen)
        leaked = set(rendered.clips) & set(heldout)
        if leaked:
            raise SystemExit(f"--renders: views of held-out clips {sorted(leaked)} must not be trained on")
        log.info("mixing in %d rendered frames of %d clips (%.0f %% of each batch)", len(rendered),
                 len(rendered.clips), 100 * render_fraction)
    n_rendered = round(render_fraction * batch_size) if rendered is not None else 0

    if init_only and not init_from:
        raise SystemExit("--init-only trains the initial estimator beside a prior: give the prior with --init-from")
    prior = PoseDiffusion().to(device)
    init = InitEstimator(InitConfig(world_dim=WORLD_FEATURES if init_world else 0)).to(device)
    ema_prior, ema_init = EMA(prior), EMA(init)
    opt_prior = torch.optim.Adam(prior.parameters(), lr=lr)
    opt_init = torch.optim.Adam(init.parameters(), lr=lr)
    body_dev = BodyModel.load(device=device)
    step, history, base = 0, [], None
    if init_from and not resume:
        start = torch.load(init_from, map_location=device, weights_only=True)
        for model, ema, key in ((prior, ema_prior, "prior"), (init, ema_init, "init")):
            weights = {k: v.float() if v.is_floating_point() else v for k, v in start[key]["state_dict"].items()}
            if key == "init" and start["init"]["config"] != init.checkpoint()["config"]:
                weights = widened(weights, start["init"]["config"], init)
                log.info("the initial estimator of %s gains the world-landmark input (its weights at zero)", init_from)
            model.load_state_dict(weights)
            ema.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        # how the starting weights were made, kept in every later save (the file may be replaced meanwhile)
        base = {"file": os.path.basename(init_from),
                **{k: v for k, v in start.get("meta", {}).items() if k != "history"}}
        log.info("starting from the weights of %s", init_from)
    if resume:
        state = torch.load(state_path, map_location=device, weights_only=True)  # tensors and plain data only
        prior.load_state_dict(state["prior"]), init.load_state_dict(state["init"])
        opt_prior.load_state_dict(state["opt_prior"]), opt_init.load_state_dict(state["opt_init"])
        ema_prior.shadow, ema_init.shadow = state["ema_prior"], state["ema_init"]
        gen.set_state(state["generator"])
        step, history, base = state["step"], state["history"], state.get("base")
        log.info("resumed at step %d", step)

    def save():
        meta = {"step": step, "clips": sorted(clips), "heldout": heldout, "data": [os.path.relpath(d) for d in data],
                "amass_z_up": amass_z_up, "frames": len(bank), "seed": seed, "lr": lr,
                "batch_size": batch_size, "noise_model": noise.describe()["source"],
                "renders": None if rendered is None else {"folder": os.path.relpath(renders), "frames": len(rendered),
                                                          "clips": rendered.clips, "files": rendered.files,
                                                          "fraction": render_fraction},
                "init_from": base, "init_world": init_world, "init_only": init_only, "history": history[-50:]}
        ckpt = {"prior": {**prior.checkpoint(), "state_dict": compact(ema_prior.state_dict())},
                "init": {**init.checkpoint(), "state_dict": compact(ema_init.state_dict())},
                "body_model": body.model_id, "meta": meta}
        tmp = out + ".tmp"
        torch.save(ckpt, tmp)
        os.replace(tmp, out)
        torch.save({"prior": prior.state_dict(), "init": init.state_dict(), "opt_prior": opt_prior.state_dict(),
                    "opt_init": opt_init.state_dict(), "ema_prior": ema_prior.shadow, "ema_init": ema_init.shadow,
                    "generator": gen.get_state(), "step": step, "history": history, "base": base}, state_path)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, initial=step, desc="train-prior", unit="step")
    t0, running = time.time(), [0.0, 0.0]
    while step < steps:
        batch = synth.batch(batch_size - n_rendered)
        if n_rendered:
            extra = rendered.batch(n_rendered)
            batch = {k: torch.cat([batch[k], extra[k]]) for k in extra if k in batch}
        batch = {k: v.to(device) for k, v in batch.items()}
        if init_world:
            w = world_features(batch["world"])
            w[torch.rand(len(w), generator=gen).to(device) < WORLD_DROPOUT] = 0.0
            batch["w"] = w
        loss_p = torch.zeros(())
        if not init_only:
            loss_p = prior.loss(batch["x0"], batch["c"])
            opt_prior.zero_grad()
            loss_p.backward()
            torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
            opt_prior.step()
            ema_prior.update(prior)

        loss_i = init_loss(init, body_dev, batch)
        opt_init.zero_grad()
        loss_i.backward()
        torch.nn.utils.clip_grad_norm_(init.parameters(), 1.0)
        opt_init.step()
        ema_init.update(init)

        step += 1
        running[0] += loss_p.item()
        running[1] += loss_i.item()
        if step % log_every == 0 or step == steps:
            k = log_every if step % log_every == 0 else step % log_every
            entry = {"step": step, "prior_loss": running[0] / k, "init_loss": running[1] / k,
                     "seconds": round(time.time() - t0, 1)}
            history.append(entry)
            log.info(json.dumps(entry))
            running = [0.0, 0.0]
            if bar:
                bar.set_postfix(prior=f"{entry['prior_loss']:.4f}", init=f"{entry['init_loss']:.4f}")
        if step % save_every == 0 or step == steps:
            save()
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    return history


def training_clips(data, exclude=(), amass_z_up=False):
    """The clips ``train`` learns from: every clip of ``data`` but those held out by ``exclude``."""
    every_clip = load_clips(data, amass_z_up=amass_z_up)
    clips = {name: p for name, p in every_clip.items() if not any(x in name for x in exclude)}
    return clips, sorted(set(every_clip) - set(clips))


def fit_training_pose_gmm(data, exclude=(), amass_z_up=False, seed=0):
    """The SMPLify baseline's pose prior, fitted on the prior's training motion (both mirror images)."""
    bank = MotionBank(training_clips(data, exclude, amass_z_up)[0])
    body_aa = matrix_to_axis_angle(torch.cat([bank.rotmats, mirror(bank.rotmats)])[:, 1:]).reshape(-1, 69)
    return fit_pose_gmm(body_aa, seed=seed)


def run_command(args):
    import sys
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    # all cores by default; on a machine shared with other work one thread is much faster (no spinning)
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    train(args.data, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
          device=args.device, resume=args.resume, exclude=tuple(args.exclude), amass_z_up=args.amass_z_up,
          noise_model=args.noise_model, progress=sys.stderr.isatty(), renders=args.renders,
          render_fraction=args.render_fraction, init_from=args.init_from, init_world=args.init_world,
          init_only=args.init_only)
    return 0


def fit_pose_gmm_command(args):
    save_pose_gmm(args.out, fit_training_pose_gmm(args.data, tuple(args.exclude), args.amass_z_up, args.seed))
    return 0
