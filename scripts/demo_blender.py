"""Second half of the main job: a result file into a .blend with the animated armature, and a
picture of the solved body over the video so a person can judge the fit.

    .venv/bin/python scripts/demo_blender.py RESULT.npz VIDEO --blend OUT.blend --render OUT.png [--frame F]

Runs real Blender (the bpy module): builds the extension zip with Blender's own CLI, installs
it into a throw-away user folder, imports the result through ``bpy.ops.scorehmr.import_result``
(the same operator as the sidebar button), saves the file, then renders one frame with
Workbench over the video frame (compositor: movie clip, alpha over).
"""
import argparse
import os
import sys
import tempfile



def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("result")
    parser.add_argument("video")
    parser.add_argument("--blend", required=True)
    parser.add_argument("--render", required=True)
    parser.add_argument("--frame", type=int, default=None, help="scene frame to render (default: middle)")
    parser.add_argument("--scale", type=int, default=50, help="render resolution percentage")
    args = parser.parse_args()

    work_dir = tempfile.mkdtemp(prefix="scorehmr-demo-")
    os.environ.setdefault("BLENDER_USER_RESOURCES", os.path.join(work_dir, "user"))
    import bpy
    from tools import extension

    extension.install(work_dir, "scorehmr_demo")  # builds + installs the zip like a user would
    bpy.ops.wm.read_homefile(use_empty=True)
    result = bpy.ops.scorehmr.import_result(filepath=os.path.abspath(args.result), video_path=os.path.abspath(args.video))
    if result != {"FINISHED"}:
        sys.exit(f"import failed: {result}")
    scene = bpy.context.scene
    os.makedirs(os.path.dirname(os.path.abspath(args.blend)), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(args.blend))

    scene.frame_set(args.frame if args.frame is not None else (scene.frame_start + scene.frame_end) // 2)
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "SINGLE"
    scene.display.shading.single_color = (0.85, 0.55, 0.35)
    scene.render.film_transparent = True
    scene.render.resolution_percentage = args.scale
    clip = next(iter(bpy.data.movieclips), None)
    if clip is not None:
        _composite_over_clip(scene, clip)
    scene.render.filepath = os.path.abspath(args.render)
    bpy.ops.render.render(write_still=True)
    print(f"wrote {args.blend} and {args.render} (frame {scene.frame_current})")


def _composite_over_clip(scene, clip):
    scene.use_nodes = True
    tree = scene.node_tree
    tree.nodes.clear()
    layers = tree.nodes.new("CompositorNodeRLayers")
    movie = tree.nodes.new("CompositorNodeMovieClip")
    movie.clip = clip
    scale = tree.nodes.new("CompositorNodeScale")
    scale.space = "RENDER_SIZE"
    over = tree.nodes.new("CompositorNodeAlphaOver")
    out = tree.nodes.new("CompositorNodeComposite")
    tree.links.new(movie.outputs["Image"], scale.inputs["Image"])
    tree.links.new(scale.outputs["Image"], over.inputs[1])
    tree.links.new(layers.outputs["Image"], over.inputs[2])
    tree.links.new(over.outputs["Image"], out.inputs["Image"])


if __name__ == "__main__":
    main()
