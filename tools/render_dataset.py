"""Rendered real-detector data: open motion on varied bodies, rendered by Blender, seen by MediaPipe.

    .venv/bin/python -m tools.render_dataset                  # everything, in the order below; resumes
    .venv/bin/python -m tools.render_dataset --fetch-backgrounds   # only the photo backgrounds

One file per (clip, view): ``data/renders/<split>/<clip>__v<k>.npz`` in the shared format
(see data/README.md). A file appears complete or not at all, and files that exist are
skipped, so the command resumes where it stopped; every (split, clip, view) draws its body,
camera and look from its own seed, so a file is reproducible on its own.

Order: the held-out clips first (3 views, the benchmark needs them), then the tuning set
(3 training clips x 2 views), the 4th held-out view, then the training clips view by view
(all clips' view 0, then view 1, …). Held-out clips are only ever rendered into ``heldout``.

Per view: random betas of the shipped body model (the clip's floor contact kept), skin and
clothing colours, a studio light, a photo (OpenCV's sample images) or procedural background,
a random static camera (focal 24–85 mm equivalent, height 0.3–2.5 m, distance 1.5–10 m,
portrait or landscape, pitch, roll, some views truncating the body), sometimes an occluder,
image noise/blur/JPEG. Renderer: Workbench by default (why: see data/README.md). MediaPipe
runs on the frames in order as on a video, with the pipeline's own settings (backend.detect).
"""
import argparse
import json
import os
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from backend.body_model import BodyModel
from backend.detect import POSE_OPTIONS, PoseDetector
from scorehmr_research.motion.canonical import lowest_foot_point
from scorehmr_research.training_set import load_clips
from smplcore import rotations
from smplcore.axes import SMPL_TO_BLENDER
from smplcore.skeleton import LANDMARK_INDEX, NUM_LANDMARKS
from tools import render_sampling as sampling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELDOUT_CLIPS = ("humanoid3d_walk", "humanoid3d_kick", "humanoid3d_dance_b", "humanoid3d_spinkick", "mocap_climb_seq_4")
TUNING_CLIPS = ("humanoid3d_punch", "humanoid3d_jump", "walker_turn_left0")
BACKGROUND_DIR = os.path.join(ROOT, ".cache", "render_backgrounds")
# OpenCV sample photos without people in them (Debian opencv-doc, examples/)
BACKGROUND_PHOTOS = (
    "alphamat/input_images/plant.jpg", "data/aero1.jpg", "data/aero3.jpg", "data/aloeL.jpg", "data/aloeR.jpg",
    "data/board.jpg", "data/box_in_scene.png", "data/building.jpg", "data/fruits.jpg", "data/graf1.png",
    "data/graf3.png", "data/home.jpg", "data/leuvenA.jpg", "data/leuvenB.jpg", "data/left.jpg", "data/right.jpg",
    "data/rubberwhale1.png", "data/rubberwhale2.png", "data/squirrel_cls.jpg", "data/starry_night.jpg",
    "data/stuff.jpg", "data/orange.jpg", "data/ela_original.jpg", "data/sudoku.png", "text/scenetext02.jpg",
    "text/scenetext03.jpg", "text/scenetext04.jpg", "text/scenetext05.jpg", "text/scenetext06.jpg",
    "hfs/data/000.jpg",
)
FACE_LANDMARKS = ("left_eye", "right_eye", "mouth_left", "mouth_right", "nose")
CHUNK = 32  # frames skinned at once
MOTION_FPS = 30.0  # every clip of open_clips.npz


@dataclass
class Clip:
    name: str
    poses: np.ndarray  # (T, 72) axis-angle, the clip's Y-up world
    trans: np.ndarray  # (T, 3)
    fps: float = MOTION_FPS
PROBE_FRAMES, MAX_DRAWS = 15, 4


def fetch_backgrounds(folder=BACKGROUND_DIR):
    """OpenCV's sample photos from Debian's ``opencv-doc`` package (apt-get download, no root needed)."""
    os.makedirs(folder, exist_ok=True)
    if sampling.photo_backgrounds(folder):
        return folder
    work = os.path.join(folder, "deb")
    os.makedirs(work, exist_ok=True)
    subprocess.run(["apt-get", "download", "opencv-doc"], cwd=work, check=True)
    deb = [f for f in os.listdir(work) if f.endswith(".deb")][0]
    subprocess.run(["dpkg-deb", "-x", deb, "x"], cwd=work, check=True)
    examples = os.path.join(work, "x", "usr", "share", "doc", "opencv-doc", "examples")
    for rel in BACKGROUND_PHOTOS:
        os.replace(os.path.join(examples, rel), os.path.join(folder, rel.replace("/", "_")))
    os.replace(os.path.join(work, "x", "usr", "share", "doc", "opencv-doc", "copyright"), os.path.join(folder, "COPYRIGHT"))
    subprocess.run(["rm", "-rf", work], check=True)
    return folder


def view_seed(split, clip, view, seed=0) -> int:
    return zlib.crc32(f"{split}/{clip}/{view}/{seed}".encode())


def render_plan(clip_frames, train_views=5, heldout_views=4):
    """(split, clip, view) in the order they are rendered; ``clip_frames``: {clip: frames}."""
    heldout = sorted((c for c in clip_frames if c in HELDOUT_CLIPS), key=clip_frames.get)
    train = [c for c in clip_frames if c not in HELDOUT_CLIPS]
    short = [c for c in heldout if clip_frames[c] <= 200]  # the long one after the tuning set
    plan = [("heldout", c, v) for v in range(min(3, heldout_views)) for c in short]
    plan += [("train", c, v) for c in TUNING_CLIPS if c in train for v in range(2)]
    plan += [("heldout", c, v) for v in range(min(3, heldout_views)) for c in heldout if c not in short]
    plan += [("heldout", c, v) for v in range(3, heldout_views) for c in heldout]
    plan += [("train", c, v) for v in range(train_views) for c in train if not (c in TUNING_CLIPS and v < 2)]
    return plan


def output_path(out_dir, split, clip, view):
    return os.path.join(out_dir, split, f"{clip}__v{view}.npz")


class Renderer:
    """Holds the body model and the Blender scene across views."""

    def __init__(self, engine="workbench", backgrounds=(), image_scale=1.0):
        torch.set_grad_enabled(False)
        self.image_scale = image_scale
        from tools.render_scene import BodyScene

        self.model = BodyModel.load()
        self.backgrounds = list(backgrounds)
        self.scene = BodyScene(self.model.faces, self.model.v_template.shape[0], engine=engine)
        self.engine = engine

    def _on_floor(self, clip, betas_t):
        """The clip's translation on the new body with its floor contact kept: the lowest sole
        point over the clip back at height 0 (clip world, Y up), as the motion dataset defines it."""
        trans = np.array(clip.trans, np.float64)
        trans[:, 1] -= lowest_foot_point(self.model, clip.poses, betas_t[0], trans).min()
        return torch.as_tensor(clip.poses, dtype=torch.float32), torch.as_tensor(trans, dtype=torch.float32)

    def _in_camera(self, poses_w, trans_w, betas_t, view, to_zup):
        """Pose (global orientation in the OpenCV camera frame), translation and joints in the camera frame."""
        w2c = torch.as_tensor(view.world_to_cam, dtype=torch.float32)
        r_cw, t_cw = w2c[:3, :3] @ to_zup, w2c[:3, 3]
        root_rest = self.model.rest_joints(betas_t)[0, 0]
        orient_w = rotations.axis_angle_to_matrix(poses_w[:, :3].double().numpy())
        poses_c = poses_w.clone()
        poses_c[:, :3] = torch.as_tensor(rotations.matrix_to_axis_angle(r_cw.double().numpy() @ orient_w))
        # the pelvis rotates about its rest position: rest + trans maps rigidly
        trans_c = (root_rest + trans_w) @ r_cw.T + t_cw - root_rest
        joints_c = self.model.joints(poses_c, betas_t.expand(len(poses_c), -1), trans_c)
        return poses_c, trans_c, joints_c

    def render_view(self, split, clip, view_index, seed=0, max_frames=None, progress=None, preview=None,
                    preview_every=10):
        """Render one (clip, view), run MediaPipe on it; the arrays of the shared format.

        A view where MediaPipe finds nobody in its first PROBE_FRAMES frames is drawn again
        (up to MAX_DRAWS times; the count is kept in ``render_info``): such a view teaches
        nothing and costs as much as a useful one."""
        rng = np.random.default_rng(view_seed(split, clip.name, view_index, seed))
        if max_frames:
            clip = Clip(clip.name, clip.poses[:max_frames], clip.trans[:max_frames], clip.fps)
        for draw in range(MAX_DRAWS):
            arrays = self._render_draw(rng, split, clip, view_index, probe=draw < MAX_DRAWS - 1,
                                       progress=progress, preview=(preview, preview_every))
            if arrays is not None:
                info = json.loads(str(arrays["render_info"]))
                info.update(seed=seed, view_seed=view_seed(split, clip.name, view_index, seed), draws=draw + 1)
                arrays["render_info"] = np.array(json.dumps(info))
                return arrays

    def _render_draw(self, rng, split, clip, view_index, probe, progress, preview):
        model = self.model
        betas = sampling.sample_betas(rng).astype(np.float32)
        betas_t = torch.as_tensor(betas)[None]
        to_zup = torch.as_tensor(SMPL_TO_BLENDER, dtype=torch.float32)
        poses_w, trans_w = self._on_floor(clip, betas_t)
        joints_w = model.joints(poses_w, betas_t.expand(len(poses_w), -1), trans_w) @ to_zup.T
        view = sampling.sample_view(rng, joints_w.numpy().astype(np.float64))
        if self.image_scale != 1.0:  # the same picture, fewer pixels (tests)
            view = sampling.View(tuple(int(round(x * self.image_scale)) for x in view.image_size),
                                 view.focal_length * self.image_scale, view.cam_to_world, view.truncated)
        poses_c, trans_c, joints_c = self._in_camera(poses_w, trans_w, betas_t, view, to_zup)
        w, h = view.image_size
        f = view.focal_length
        pix = f * joints_c[..., :2] / joints_c[..., 2:3] + torch.tensor([w / 2, h / 2])
        box = (*pix.reshape(-1, 2).min(0).values.tolist(), *pix.reshape(-1, 2).max(0).values.tolist())
        look = sampling.sample_look(rng, self.backgrounds, view.image_size, box)

        rest = model.v_template + torch.einsum("vcb,b->vc", model.shapedirs, betas_t[0])
        face = model.landmarks(torch.zeros(1, 72), betas_t)[0].numpy()
        face_points = {n: face[LANDMARK_INDEX[n]] for n in FACE_LANDMARKS}
        self.scene.set_colours(sampling.vertex_colours(look, rest.numpy(), model.weights.numpy(),
                                                       model.rest_joints(betas_t)[0].numpy(), face_points))
        self.scene.set_view(view, look)
        composite = sampling.Compositor(look, view.image_size, rng)

        n = len(poses_w)
        keypoints = np.zeros((n, NUM_LANDMARKS, 3), np.float32)
        presence = np.zeros((n, NUM_LANDMARKS), np.float32)
        world = np.zeros((n, NUM_LANDMARKS, 3), np.float32)
        found = np.zeros(n, bool)
        started = time.monotonic()
        with PoseDetector() as detector:
            for a in range(0, n, CHUNK):
                verts = model.vertices(poses_w[a:a + CHUNK], betas_t, trans_w[a:a + CHUNK]) @ to_zup.T
                for i, v in enumerate(verts.numpy(), start=a):
                    px, depth = view.project(v)
                    px = px[depth > 0]
                    box = (*px.min(0), *px.max(0)) if len(px) else None
                    frame = composite(self.scene.render(v, box))
                    if preview[0] and i % preview[1] == 0:  # lossless: the frame MediaPipe saw
                        import cv2
                        cv2.imwrite(os.path.join(preview[0], f"{split}_{clip.name}__v{view_index}_{i:04d}.png"), frame)
                    out = detector(frame, with_presence=True)
                    if out is not None:
                        keypoints[i], world[i], presence[i] = out
                        found[i] = True
                    if progress:
                        progress(i + 1, n)
                    if probe and i + 1 == min(PROBE_FRAMES, n) and not found.any():
                        return None
        info = dict(engine=self.engine,
                    focal_mm_equivalent=round(f * sampling.FULL_FRAME_DIAGONAL_MM / float(np.hypot(w, h)), 1),
                    truncated=view.truncated, background=os.path.basename(look.background),
                    occluder=look.occluder is not None, studio_light=look.studio_light, sleeve=look.sleeve,
                    trouser_leg=look.trouser_leg, detector=dict(POSE_OPTIONS), seconds=round(time.monotonic() - started, 1))
        return dict(
            keypoints_2d=keypoints, presence=presence, world_landmarks=world, found=found,
            focal_length=np.float32(f), image_size=np.array(view.image_size, np.int32), fps=np.float32(clip.fps),
            cam_to_world=view.cam_to_world.astype(np.float32), poses=poses_c.numpy().astype(np.float32),
            trans=trans_c.numpy().astype(np.float32), betas=betas, joints=joints_c.numpy().astype(np.float32),
            frame_index=np.arange(n, dtype=np.int32), clip=np.array(clip.name), view=np.int32(view_index),
            body_model=np.array(model.model_id), render_info=np.array(json.dumps(info)))


def write_atomic(path, arrays):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path[:-4] + ".partial.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)  # appears complete or not at all


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "data", "renders"))
    parser.add_argument("--motion", default=os.path.join(ROOT, "data", "motion", "open_clips.npz"))
    parser.add_argument("--train-views", type=int, default=5)
    parser.add_argument("--heldout-views", type=int, default=4)
    parser.add_argument("--clips", nargs="*", help="only these clips (default: all)")
    parser.add_argument("--split", choices=("train", "heldout"), help="only this split")
    parser.add_argument("--max-frames", type=int, help="only the first frames of each clip (tests)")
    parser.add_argument("--engine", choices=("workbench", "cycles"), default="workbench")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-scale", type=float, default=1.0, help="scale the image sizes (tests)")
    parser.add_argument("--no-photos", action="store_true", help="procedural backgrounds only")
    parser.add_argument("--preview", help="also write every 10th frame (PNG) into this folder (inspection)")
    parser.add_argument("--fetch-backgrounds", action="store_true", help="fetch the photos and stop")
    args = parser.parse_args(argv)
    if args.fetch_backgrounds:
        print(fetch_backgrounds())
        return 0
    if args.preview:
        os.makedirs(args.preview, exist_ok=True)
    backgrounds = [] if args.no_photos else sampling.photo_backgrounds(fetch_backgrounds())
    clips = {name: Clip(name, poses, trans) for name, (poses, trans) in load_clips([args.motion], with_trans=True).items()}
    names = [c for c in clips if not args.clips or c in args.clips]
    plan = [p for p in render_plan({c: len(clips[c].poses) for c in names}, args.train_views, args.heldout_views) if not args.split or p[0] == args.split]
    todo = [p for p in plan if not os.path.exists(output_path(args.out, *p))]
    print(f"{len(plan) - len(todo)} of {len(plan)} views already rendered; {len(todo)} to go", flush=True)
    renderer = Renderer(args.engine, backgrounds, args.image_scale) if todo else None
    for k, (split, name, view) in enumerate(todo):
        started = time.monotonic()
        arrays = renderer.render_view(split, clips[name], view, args.seed, args.max_frames, preview=args.preview)
        write_atomic(output_path(args.out, split, name, view), arrays)
        seconds = time.monotonic() - started
        print(f"[{k + 1}/{len(todo)}] {split}/{name}__v{view}: {len(arrays['found'])} frames, "
              f"{arrays['found'].mean():.0%} detected, {seconds / len(arrays['found']):.2f} s/frame", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
