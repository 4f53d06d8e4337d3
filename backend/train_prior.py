"""``python -m backend train-prior``: train the ScoreHMR pose diffusion prior and the initial
estimator on synthetic observations of real motion. Seeded, resumable, CPU or CUDA.

Motion input: ``.npz`` files or folders of them, either one clip per file in AMASS layout
(``poses`` (T, 72+) axis-angle, Y-up or AMASS Z-up with ``--amass-z-up``) or several clips
packed in one file (``poses`` (N, 72) plus ``clips``, a JSON list of name / start / frames,
as tools/build_motion_dataset.py writes data/motion/open_clips.npz).
"""
import json
import logging
import os
import time

import numpy as np
import torch

from .diffusion import EMA, PoseDiffusion
from .geometry import matrix_to_axis_angle, rot6d_to_matrix
from .init_estimator import InitEstimator
from .smplify import fit_pose_gmm
from .synthetic import MotionBank, SyntheticObservations, mirror

log = logging.getLogger("backend.train_prior")
_Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])


def _files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                yield from (os.path.join(root, n) for n in sorted(names) if n.endswith(".npz"))
        else:
            yield path


def load_clips(paths, amass_z_up=False, exclude=(), only=None, with_trans=False):
    """{clip name: (T, 72) axis-angle poses, Y-up world}; names containing an ``exclude``
    string are left out (held out), or only those in ``only`` are kept. ``with_trans`` gives
    {name: (poses, trans (T, 3) or None)} instead."""
    from smplcore.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    clips = {}
    for path in _files(paths):
        with np.load(path, allow_pickle=False) as data:
            poses = data["poses"][:, :72].astype(np.float64)
            trans = data["trans"].astype(np.float64) if "trans" in data.files else None
            if "clips" in data.files:  # packed: a JSON table of name / start / frames per clip
                spans = {c["name"]: slice(c["start"], c["start"] + c["frames"]) for c in json.loads(str(data["clips"]))}
            else:
                spans = {os.path.splitext(os.path.relpath(path))[0]: slice(None)}
        for name, span in spans.items():
            if any(x in name for x in exclude) or (only is not None and name not in only):
                continue
            p, t = poses[span], None if trans is None else trans[span]
            if amass_z_up:
                p = p.copy()
                p[:, :3] = matrix_to_axis_angle(_Z_UP_TO_Y_UP @ axis_angle_to_matrix(p[:, :3]))
                t = None if t is None else t @ _Z_UP_TO_Y_UP.T
            clips[name] = (p, t) if with_trans else p
    if not clips:
        raise ValueError(f"no motion clips found in {list(paths)}")
    return clips


def compact(state_dict):
    """Weights stored as float16 (loading casts them back): half the size in the repository.
    The noise schedule stays float32: alpha-bar near 1 needs the precision."""
    return {k: v.half() if v.is_floating_point() and k != "alphas_cumprod" else v for k, v in state_dict.items()}


def init_loss(init_model, body, batch):
    x, betas = init_model(batch["c"])
    rot = rot6d_to_matrix(x.reshape(-1, 24, 6))
    rest = body.rest_joints(batch["betas"])
    _, j_pred = body.forward_kinematics(rot, rest)
    _, j_true = body.forward_kinematics(batch["rotmats"], rest)
    j_pred, j_true = j_pred - j_pred[:, :1], j_true - j_true[:, :1]
    return (torch.mean((rot - batch["rotmats"]) ** 2) + 10.0 * torch.mean((j_pred - j_true) ** 2)
            + 0.01 * torch.mean((betas - batch["betas"]) ** 2))


def train(data, out, steps=20000, batch_size=256, lr=1e-4, seed=0, device="cpu", resume=False,
          exclude=(), amass_z_up=False, noise_model=None, log_every=200, save_every=2000, progress=True):
    from .body_model import BodyModel
    from .observation_noise import NoiseModel

    state_path = out + ".state"
    if resume and not os.path.exists(state_path):
        # never silently start over: the checkpoint at ``out`` would be overwritten by a fresh run
        raise SystemExit(f"--resume: no training state at {state_path} (it is written beside the checkpoint "
                         "by the run that trained it and is not shipped); train without --resume to start over")
    torch.manual_seed(seed)
    every_clip = load_clips(data, amass_z_up=amass_z_up)
    clips = {name: p for name, p in every_clip.items() if not any(x in name for x in exclude)}
    heldout = sorted(set(every_clip) - set(clips))
    bank = MotionBank(clips)
    body = BodyModel.load(device="cpu")
    noise = NoiseModel.load(noise_model)
    gen = torch.Generator().manual_seed(seed)
    synth = SyntheticObservations(bank, body, noise, generator=gen)
    log.info("training on %d clips, %d frames", len(clips), len(bank))
    # the SMPLify baseline's pose prior, from the same motion (both mirror images)
    body_aa = matrix_to_axis_angle(torch.cat([bank.rotmats, mirror(bank.rotmats)])[:, 1:]).reshape(-1, 69)
    pose_gmm = fit_pose_gmm(body_aa, seed=seed)

    prior, init = PoseDiffusion().to(device), InitEstimator().to(device)
    ema_prior, ema_init = EMA(prior), EMA(init)
    opt_prior = torch.optim.Adam(prior.parameters(), lr=lr)
    opt_init = torch.optim.Adam(init.parameters(), lr=lr)
    body_dev = BodyModel.load(device=device)
    step, history = 0, []
    if resume:
        state = torch.load(state_path, map_location=device, weights_only=True)  # tensors and plain data only
        prior.load_state_dict(state["prior"]), init.load_state_dict(state["init"])
        opt_prior.load_state_dict(state["opt_prior"]), opt_init.load_state_dict(state["opt_init"])
        ema_prior.shadow, ema_init.shadow = state["ema_prior"], state["ema_init"]
        gen.set_state(state["generator"])
        step, history = state["step"], state["history"]
        log.info("resumed at step %d", step)

    def save():
        meta = {"step": step, "clips": sorted(clips), "heldout": heldout, "data": [os.path.relpath(d) for d in data],
                "amass_z_up": amass_z_up, "frames": len(bank), "seed": seed, "lr": lr,
                "batch_size": batch_size, "noise_model": noise.describe()["source"],
                "history": history[-50:]}
        ckpt = {"prior": {**prior.checkpoint(), "state_dict": compact(ema_prior.state_dict())},
                "init": {**init.checkpoint(), "state_dict": compact(ema_init.state_dict())},
                "pose_gmm": pose_gmm, "body_model": body.model_id, "meta": meta}
        tmp = out + ".tmp"
        torch.save(ckpt, tmp)
        os.replace(tmp, out)
        torch.save({"prior": prior.state_dict(), "init": init.state_dict(), "opt_prior": opt_prior.state_dict(),
                    "opt_init": opt_init.state_dict(), "ema_prior": ema_prior.shadow, "ema_init": ema_init.shadow,
                    "generator": gen.get_state(), "step": step, "history": history}, state_path)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, initial=step, desc="train-prior", unit="step")
    t0, running = time.time(), [0.0, 0.0]
    while step < steps:
        batch = {k: v.to(device) for k, v in synth.batch(batch_size).items()}
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


def run_command(args):
    import sys
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    train(args.data, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
          device=args.device, resume=args.resume, exclude=tuple(args.exclude), amass_z_up=args.amass_z_up,
          noise_model=args.noise_model, progress=sys.stderr.isatty())
    return 0
