"""The README's world-frame picture: a result with a floor imported by the add-on, baked onto a
character rig with travelling root motion, and that character rendered (Workbench) at several
moments of the clip, walking on the floor plane, seen from the side.

    .venv/bin/python scripts/world_figure.py RESULT.npz OUT.png [--frames 6]

The character is a copy of the imported SMPL armature and body (its own rig, no animation of its
own); ``bpy.ops.scorehmr.bake_to_armature`` writes its Action, as a user's bake would.
"""
import argparse
import os
import sys
import tempfile

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("result")
    parser.add_argument("out")
    parser.add_argument("--frames", type=int, default=6, help="moments of the clip to show")
    args = parser.parse_args()

    work_dir = tempfile.mkdtemp(prefix="scorehmr-figure-")
    os.environ.setdefault("BLENDER_USER_RESOURCES", os.path.join(work_dir, "user"))
    import bpy
    from mathutils import Matrix, Vector

    from tools import extension

    extension.install(work_dir, "scorehmr_figure")
    bpy.ops.wm.read_homefile(use_empty=True)
    if bpy.ops.scorehmr.import_result(filepath=os.path.abspath(args.result)) != {"FINISHED"}:
        sys.exit("import failed")
    scene = bpy.context.scene
    source = scene.scorehmr.source
    floor = next(o for o in source.users_collection[0].objects if o.name.startswith("Floor"))
    source_mesh = next(o for o in source.children if o.type == "MESH")

    # the character: its own copy of the rig and body, standing on the floor, not animated
    character = source.copy()
    character.data = source.data.copy()
    character.animation_data_clear()
    for key in list(character.keys()):
        del character[key]
    character.name = "Character"
    scene.collection.objects.link(character)
    body = source_mesh.copy()
    body.data = source_mesh.data.copy()
    body.parent = character
    body.modifiers["Armature"].object = character
    scene.collection.objects.link(body)
    scene.frame_set(scene.frame_start)
    start = source.matrix_world @ source.pose.bones["pelvis"].head
    lowest = min((v.co.z for v in body.data.vertices))
    character.matrix_world = Matrix.Translation((start.x, start.y, -lowest))

    settings = scene.scorehmr
    settings.target = character
    settings.root_motion = "TRAVELLING"
    bpy.ops.scorehmr.detect_bone_map()
    if bpy.ops.scorehmr.bake_to_armature() != {"FINISHED"}:
        sys.exit("bake failed")
    # the imported body keys its own visibility (hidden where the person was not seen): its keys
    # would show it again over the character
    source_mesh.animation_data_clear()
    for obj in (source, source_mesh):
        obj.hide_render = True

    # a side view of the path
    from smplcore.result import MotionResult

    seen = MotionResult.load(args.result)
    seen = seen.frame_index[seen.valid] + 1   # scene frames where the person was observed
    frames = seen[np.linspace(0, len(seen) - 1, args.frames).round().astype(int)]
    path = []
    for frame in frames:
        scene.frame_set(int(frame))
        path.append(np.array(character.matrix_world @ character.pose.bones[character.pose.bones[0].name].head))
    path = np.array(path)
    centre = path.mean(0)
    along = path[-1] - path[0]
    along[2] = 0
    along = along / max(np.linalg.norm(along), 1e-6) if np.linalg.norm(along) > 0.2 else np.array([1.0, 0, 0])
    side = np.array([-along[1], along[0], 0.0])
    extent = max(np.ptp(path[:, :2], axis=0).max(), 1.5)
    eye = centre + side * (2.2 * extent + 2.0) + np.array([0, 0, 1.2])
    camera = bpy.data.objects.new("Figure camera", bpy.data.cameras.new("Figure camera"))
    scene.collection.objects.link(camera)
    camera.location = Vector(eye)
    camera.rotation_euler = (Vector(centre + [0, 0, -0.1]) - Vector(eye)).to_track_quat("-Z", "Y").to_euler()
    camera.data.lens = 35
    scene.camera = camera

    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    scene.render.film_transparent = True
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 1280, 540, 100
    floor.hide_render = False   # hidden from renders by default; the picture is about it
    floor.color = (0.55, 0.57, 0.6, 1.0)
    body.color = (0.85, 0.55, 0.35, 1.0)
    layers = []
    for i, frame in enumerate(frames):
        floor.hide_render = i > 0
        scene.frame_set(int(frame))
        scene.render.filepath = os.path.join(work_dir, f"frame{i}.png")
        bpy.ops.render.render(write_still=True)
        image = bpy.data.images.load(scene.render.filepath)
        pixels = np.empty(len(image.pixels), np.float32)
        image.pixels.foreach_get(pixels)
        layers.append(pixels.reshape(image.size[1], image.size[0], 4))
    out = layers[0].copy()
    for layer in layers[1:]:   # alpha over, in time order
        alpha = layer[..., 3:]
        out[..., :3] = layer[..., :3] * alpha + out[..., :3] * (1 - alpha)
        out[..., 3:] = alpha + out[..., 3:] * (1 - alpha)
    rows, cols = np.nonzero(out[..., 3] > 0.01)   # crop to what was drawn, with a margin
    out = out[max(rows.min() - 20, 0):rows.max() + 21, max(cols.min() - 20, 0):cols.max() + 21]
    background = np.array([1.0, 1.0, 1.0])
    out[..., :3] = out[..., :3] * out[..., 3:] + background * (1 - out[..., 3:])
    out[..., 3] = 1.0
    result = bpy.data.images.new("world figure", out.shape[1], out.shape[0], alpha=True)
    result.pixels.foreach_set(out.ravel())
    result.filepath_raw = os.path.abspath(args.out)
    result.file_format = "PNG"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    result.save()
    print(f"wrote {args.out}: frames {frames.tolist()}")


if __name__ == "__main__":
    main()
