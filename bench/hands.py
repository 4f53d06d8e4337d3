"""Finger accuracy on rendered hands with known poses, and hand detection on the real test clip.

    python bench/hands.py [--frames 24] [--seed 0] [--complexity 1]

1. Poses: ``--frames`` random hands of the shipped SMPL-H body (left and right alternating),
   finger angles drawn inside the joint limits, palm or back towards the camera, turned up to
   ~35 degrees, the wrist 0.45 m in front of a 640x480 camera (focal 600 px). Vertices come from
   ``smplx.SMPLH`` (the consumer the model is built for).
2. Render: bpy Workbench (a subprocess of this script, ``--render``), skin-coloured body on a
   transparent film, composited here over crops of OpenCV's sample photos (.cache/render_backgrounds,
   made by tools of issue 15; a procedural background when absent). Renders are cached in
   .cache/bench_hands/ (not committed).
3. Detection + solve exactly as the pipeline does them: the crop comes from ``crop_from_pose``
   fed with the true wrist/index/pinky knuckle projections (an ideal body pose: this measures the
   hand stage, not the body detector), MediaPipe's hand landmark model, then ``fit_hand`` per frame
   (no temporal term: frames are unrelated) with the body's wrist rotation off by 15 degrees.
4. Errors against the truth, on frames where the hand was found, all wrist-relative in the
   camera frame: fingertip error (mm), and per finger joint the bend angle (angle between the
   bone into and out of the joint) error (deg), for
   - fit:       our fitted hand (hand_poses as written into results),
   - flat:      flat fingers under the fitted hand rotation (what the body-only result shows),
   - mediapipe: MediaPipe's own hand world landmarks (metres), raw, and rotated onto the truth
                by the best rotation (Kabsch; generous to it),
   plus the fitted finger rotations' geodesic error (deg).
5. Detection rate on tests/data/walk_excerpt.mp4 through the real pipeline stages.
Writes bench/results/hands.json and prints a table.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results", "hands.json")
CACHE = os.path.join(ROOT, ".cache", "bench_hands")
WIDTH, HEIGHT, FOCAL = 640, 480, 600.0
TIPS = [4, 8, 12, 16, 20]
def bend_angles(points):
    """(..., 21, 3) -> (..., 15) angle in degrees between the bone into and out of each finger
    joint (MediaPipe order: thumb CMC/MCP/IP, then MCP/PIP/DIP of index, middle, ring, pinky)."""
    angles = []
    for f in range(5):
        chain = [0] + [1 + 4 * f + k for k in range(4)]
        for k in range(1, 4):
            a = points[..., chain[k], :] - points[..., chain[k - 1], :]
            b = points[..., chain[k + 1], :] - points[..., chain[k], :]
            cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
            angles.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.stack(angles, -1)


def make_poses(frames, seed):
    """Known hands: smplx vertices in the camera frame and the truth of every frame."""
    import torch
    import smplx

    from backend.geometry import axis_angle_to_matrix, matrix_to_axis_angle
    from backend.hand_model import HandModel, mediapipe_points
    from smplcore.body_model_file import default_smplh_model_path, load_body_model_file

    rng = np.random.default_rng(seed)
    path = default_smplh_model_path()
    model = smplx.SMPLH(model_path=path, ext="pkl", use_pca=False, flat_hand_mean=True)
    tips = load_body_model_file(path, tree="smplh").extras["hand_tip_vertex_ids"]
    hands = HandModel(path)
    # palm towards the camera: fingers up the image, palm normal (-y body) towards the camera (-z)
    facing = {"left": np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
              "right": np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])}
    out = {"verts": [], "points": [], "rotation": [], "hand_pose": [], "side": []}
    for i in range(frames):
        side = ("left", "right")[i % 2]
        hand = hands[side]
        lo, hi = hand.lower.numpy(), hand.upper.numpy()
        anat = rng.uniform(lo, hi) * rng.uniform(0.3, 1.0)   # from open to fully curled
        aa = hand.to_axis_angle(torch.as_tensor(anat, dtype=torch.float32)).numpy()
        base = facing[side]
        if rng.random() < 0.5:  # the back of the hand towards the camera: half a turn about the fingers
            finger_axis = base @ np.array([1.0 if side == "left" else -1.0, 0.0, 0.0])
            base = axis_angle_to_matrix(torch.as_tensor(np.pi * finger_axis[None], dtype=torch.float32))[0].numpy() @ base
        turn = axis_angle_to_matrix(torch.as_tensor(rng.normal(scale=0.35, size=(1, 3)), dtype=torch.float32))[0].numpy()
        rotation = turn @ base
        full = {"left_hand_pose": np.zeros(45), "right_hand_pose": np.zeros(45)}
        full[f"{side}_hand_pose"] = aa.reshape(45)
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)[None]  # noqa: E731
        with torch.no_grad():
            res = model(global_orient=matrix_to_axis_angle(t(rotation)), left_hand_pose=t(full["left_hand_pose"]),
                        right_hand_pose=t(full["right_hand_pose"]))
        joints, verts = res.joints[0].numpy(), res.vertices[0].numpy()
        h = ("left", "right").index(side)
        points = np.array([joints[j] if j >= 0 else verts[tips[h][(k - 4) // 4]]
                           for k, j in enumerate(mediapipe_points(side))])
        shift = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.03, 0.06), 0.45]) - points[0]
        out["verts"].append((verts + shift).astype(np.float32))
        out["points"].append(points + shift)
        out["rotation"].append(rotation)
        out["hand_pose"].append(aa)
        out["side"].append(side)
    faces = model.faces.astype(np.int32)
    return {k: np.array(v) for k, v in out.items()}, faces


def render(scene_file, out_dir):
    """bpy subprocess: one RGBA PNG per frame (Workbench, transparent film)."""
    import bpy

    data = np.load(scene_file, allow_pickle=False)
    verts, faces = data["verts"], data["faces"]
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.render.film_transparent = True
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.render.image_settings.color_mode = "RGBA"
    cam_data = bpy.data.cameras.new("cam")
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = 36.0
    cam_data.lens = FOCAL * 36.0 / WIDTH
    cam_data.clip_start = 0.05
    camera = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(camera)
    scene.camera = camera  # at the origin looking down -Z: OpenCV (x, y, z) is Blender (x, -y, -z)
    mesh = bpy.data.meshes.new("body")
    mesh.from_pydata((verts[0] * [1, -1, -1]).tolist(), [], faces.tolist())
    for poly in mesh.polygons:
        poly.use_smooth = True
    material = bpy.data.materials.new("skin")
    material.diffuse_color = (0.80, 0.57, 0.45, 1.0)
    mesh.materials.append(material)
    body = bpy.data.objects.new("body", mesh)
    scene.collection.objects.link(body)
    for i, v in enumerate(verts):
        mesh.vertices.foreach_set("co", (v * [1, -1, -1]).astype(np.float32).ravel())
        mesh.update()
        scene.render.filepath = os.path.join(out_dir, f"{i:03d}.png")
        bpy.ops.render.render(write_still=True)


def background(rng):
    import cv2

    photos = sorted(glob.glob(os.path.join(ROOT, ".cache", "render_backgrounds", "*.jpg")))
    if photos:
        img = cv2.imread(photos[rng.integers(len(photos))])
        if img is not None and img.shape[0] >= HEIGHT // 2:
            return cv2.resize(img, (WIDTH, HEIGHT))
    noise = rng.uniform(0, 255, (HEIGHT // 16, WIDTH // 16, 3)).astype(np.uint8)
    return cv2.resize(noise, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)


def project(points):
    return np.stack([FOCAL * points[..., 0] / points[..., 2] + WIDTH / 2,
                     FOCAL * points[..., 1] / points[..., 2] + HEIGHT / 2], -1)


def _kabsch_align(src, dst):
    sc, dc = src - src.mean(0), dst - dst.mean(0)
    u, _, vt = np.linalg.svd(dc.T @ sc)
    d = np.sign(np.linalg.det(u @ vt))
    return (u @ np.diag([1, 1, d]) @ vt @ sc.T).T + dst.mean(0)


def evaluate(data, frames_dir, seed, complexity=1):
    import cv2
    import torch

    from backend.geometry import axis_angle_to_matrix
    from backend.hand_detect import HandLandmarker, crop_from_pose
    from backend.hand_model import HandModel
    from backend.hand_solve import fit_hand
    from smplcore.skeleton import LANDMARK_INDEX

    rng = np.random.default_rng(seed + 1)
    hands = HandModel()
    detector = HandLandmarker(complexity)
    rows = {k: [] for k in ("tip_fit", "tip_flat", "tip_mp_raw", "tip_mp_aligned", "bend_fit", "bend_flat",
                            "bend_mp", "rot_fit")}
    found = 0
    seconds = 0.0
    for i, side in enumerate(data["side"]):
        rgba = cv2.imread(os.path.join(frames_dir, f"{i:03d}.png"), cv2.IMREAD_UNCHANGED)
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        frame = (alpha * rgba[..., :3] + (1 - alpha) * background(rng)).astype(np.uint8)
        truth = data["points"][i]
        pixels = project(truth)
        pose = np.zeros((33, 3))
        pose[LANDMARK_INDEX[f"{side}_wrist"], :2] = pixels[0]
        pose[LANDMARK_INDEX[f"{side}_index"], :2] = pixels[5]
        pose[LANDMARK_INDEX[f"{side}_pinky"], :2] = pixels[17]
        started = time.perf_counter()
        out = detector(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), crop_from_pose(pose, side), side)
        if out is None:
            seconds += time.perf_counter() - started
            continue
        found += 1
        observed = np.concatenate([out[0][:, :2], out[1][:, None]], -1)[None]
        off = axis_angle_to_matrix(torch.nn.functional.normalize(torch.as_tensor(rng.normal(size=(1, 3)), dtype=torch.float32))
                                   * np.radians(15.0))
        body_wrist = (off @ torch.as_tensor(data["rotation"][i][None], dtype=torch.float32)).numpy()
        aa, rotation, _ = fit_hand(hands[side], observed, out[0][None, :, 2], body_wrist)
        seconds += time.perf_counter() - started
        hand = hands[side]
        fitted = hand.points(torch.as_tensor(rotation), torch.as_tensor(aa)).numpy()[0]
        flat = hand.points(torch.as_tensor(rotation), torch.zeros(1, 15, 3)).numpy()[0]
        rel = truth - truth[0]
        mp = out[2] - out[2][0]
        mp_aligned = _kabsch_align(mp, rel)
        mp_aligned -= mp_aligned[0]
        for name, pts in (("fit", fitted), ("flat", flat), ("mp_raw", mp), ("mp_aligned", mp_aligned)):
            rows[f"tip_{name}"].append(1000 * np.linalg.norm(pts[TIPS] - rel[TIPS], axis=-1))
        true_bends = bend_angles(rel)
        for name, pts in (("fit", fitted), ("flat", flat), ("mp", mp)):
            rows[f"bend_{name}"].append(np.abs(bend_angles(pts) - true_bends))
        r_fit = axis_angle_to_matrix(torch.as_tensor(aa[0]))
        r_true = axis_angle_to_matrix(torch.as_tensor(data["hand_pose"][i], dtype=torch.float32))
        cos = ((torch.einsum("jab,jab->j", r_fit, r_true) - 1) / 2).clamp(-1, 1)
        rows["rot_fit"].append(np.degrees(torch.arccos(cos).numpy()))
    detector.close()
    summary = {k: {"mean": round(float(np.mean(v)), 2), "median": round(float(np.median(v)), 2)} if v else None
               for k, v in rows.items()}
    per_joint = {k: np.mean(rows[k], axis=0).round(1).tolist() for k in ("bend_fit", "bend_flat", "bend_mp") if rows[k]}
    return summary, per_joint, found, seconds


def detection_rate(complexity=1):
    """Hands found on the real test clip, per side, over the frames with the tracked person."""
    from backend import hand_detect, pipeline

    clip = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
    info, detections, keypoints, valid = pipeline.detect_person(clip)
    started = time.perf_counter()
    hands = hand_detect.detect_hands(info, detections.frame_index, keypoints, valid, complexity)
    seconds = time.perf_counter() - started
    return {"clip": os.path.relpath(clip, ROOT), "person_frames": int(valid.sum()),
            "left_found": int(hands.found[:, 0].sum()), "right_found": int(hands.found[:, 1].sum()),
            "seconds": round(seconds, 2),
            "note": "the woman walks right to left: her left hand faces the camera, her right hand is mostly "
                    "hidden behind her body"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--complexity", type=int, default=1, choices=(0, 1),
                        help="MediaPipe's hand model: 1 full (the pipeline's), 0 lite (the wheel's faster one)")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--render", nargs=2, metavar=("SCENE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render:
        render(*args.render)
        return
    frames_dir = os.path.join(CACHE, f"seed{args.seed}_n{args.frames}")
    scene_file = frames_dir + ".npz"
    if not os.path.isfile(os.path.join(frames_dir, f"{args.frames - 1:03d}.png")):
        data, faces = make_poses(args.frames, args.seed)
        os.makedirs(frames_dir, exist_ok=True)
        np.savez(scene_file, faces=faces, **data)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--render", scene_file, frames_dir], check=True,
                       stdout=subprocess.DEVNULL)
    data = dict(np.load(scene_file, allow_pickle=False))
    summary, per_joint, found, seconds = evaluate(data, frames_dir, args.seed, args.complexity)
    report = {
        "frames": args.frames, "seed": args.seed, "hand_model_complexity": args.complexity, "found": found,
        "camera": {"size": [WIDTH, HEIGHT], "focal_px": FOCAL, "wrist_distance_m": 0.45},
        "errors": summary, "bend_error_per_joint_deg": per_joint,
        "joint_order": "thumb CMC, MCP, IP; index MCP, PIP, DIP; middle; ring; pinky (MediaPipe order)",
        "hand_seconds_per_frame": round(seconds / max(1, args.frames), 4),
        "detection_rate": detection_rate(args.complexity),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"rendered hands: found {found}/{args.frames}")
    print(f"{'':<22}{'fingertip mm':>14}{'bend deg':>10}")
    for name, tip, bend in (("fit (ours)", "tip_fit", "bend_fit"), ("flat hands", "tip_flat", "bend_flat"),
                            ("MediaPipe world", "tip_mp_raw", "bend_mp"), ("MediaPipe aligned", "tip_mp_aligned", None)):
        t = summary[tip]["mean"] if summary[tip] else float("nan")
        b = summary[bend]["mean"] if bend and summary[bend] else float("nan")
        print(f"{name:<22}{t:>14.1f}{b:>10.1f}")
    print(f"finger rotation error (fit): {summary['rot_fit']}")
    print(f"detection on the real clip: {report['detection_rate']}")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
