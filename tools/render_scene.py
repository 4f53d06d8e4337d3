"""The Blender side of the render generator: one body mesh, one camera, Workbench or Cycles.

The body is the shipped model's own mesh (same vertices and faces), so the vertices set
here each frame are exactly the ground truth the dataset stores. Frames come back as RGBA
arrays with a transparent film; backgrounds are composited afterwards (render_sampling).
"""
import contextlib
import math
import os
import sys
import tempfile

import numpy as np

import bpy
from mathutils import Matrix


def _srgb_to_linear(c):
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@contextlib.contextmanager
def _quiet_stdout():
    """Blender prints a few lines per rendered frame straight to file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


class BodyScene:
    def __init__(self, faces, num_vertices, engine="workbench", cycles_samples=4):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = scene = bpy.context.scene
        mesh = bpy.data.meshes.new("body")
        mesh.from_pydata(np.zeros((num_vertices, 3)).tolist(), [], np.asarray(faces).tolist())
        mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), bool))
        self.mesh = mesh
        self.colour = mesh.color_attributes.new("colour", "FLOAT_COLOR", "POINT")
        mesh.color_attributes.active_color = self.colour
        body = bpy.data.objects.new("body", mesh)
        scene.collection.objects.link(body)
        self.camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera
        self.camera.data.sensor_fit = "HORIZONTAL"
        self.camera.data.sensor_width = 36.0
        self.camera.data.clip_start, self.camera.data.clip_end = 0.05, 100.0
        render = scene.render
        render.film_transparent = True
        render.resolution_percentage = 100
        render.image_settings.file_format = "PNG"
        render.image_settings.color_mode = "RGBA"
        scene.view_settings.view_transform = "Standard"
        self.engine = engine
        if engine == "workbench":
            render.engine = "BLENDER_WORKBENCH"
            scene.display.render_aa = "FXAA"  # 8x multisampling costs 5x the time on software OpenGL
            shading = scene.display.shading
            shading.light = "STUDIO"
            shading.color_type = "VERTEX"
            shading.show_specular_highlight = True
        else:  # Cycles: the vertex colour drives a principled material, a sun and a sky-ish world light it
            render.engine = "CYCLES"
            scene.cycles.device = "CPU"
            scene.cycles.samples = cycles_samples
            scene.cycles.use_denoising = True
            material = bpy.data.materials.new("skin")
            material.use_nodes = True
            nodes = material.node_tree.nodes
            attribute = nodes.new("ShaderNodeVertexColor")
            attribute.layer_name = "colour"
            material.node_tree.links.new(attribute.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
            nodes["Principled BSDF"].inputs["Roughness"].default_value = 0.6
            mesh.materials.append(material)
            self.sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
            scene.collection.objects.link(self.sun)
            world = bpy.data.worlds.new("world")
            world.use_nodes = True
            scene.world = world
        self._frame_path = os.path.join(tempfile.mkdtemp(prefix="render-"), "frame.png")

    def set_view(self, view, look):
        """Camera intrinsics/pose (render_sampling.View), light and vertex colours (Look)."""
        width, height = view.image_size
        self.scene.render.resolution_x, self.scene.render.resolution_y = width, height
        self.camera.data.lens = view.focal_length * 36.0 / width
        # OpenCV camera axes -> Blender camera axes (y up, looking along -z)
        self.camera.matrix_world = Matrix((view.cam_to_world @ np.diag([1.0, -1.0, -1.0, 1.0])).tolist())
        if self.engine == "workbench":
            shading = self.scene.display.shading
            shading.studio_light = look.studio_light
            shading.studiolight_rotate_z = look.light_rotation
            shading.show_shadows = look.shadow > 0
            self.scene.display.shadow_shift = 0.1
            self.scene.display.light_direction = (math.cos(look.light_rotation), math.sin(look.light_rotation), 1.0)
            self.scene.display.shadow_focus = 0.5
            shading.shadow_intensity = max(look.shadow, 0.0)
        else:
            self.sun.rotation_euler = (math.radians(40), 0.0, look.light_rotation)
            self.sun.data.energy = 3.0
            background = self.scene.world.node_tree.nodes["Background"]
            background.inputs["Strength"].default_value = 0.6

    def set_colours(self, srgb):
        rgba = np.concatenate([_srgb_to_linear(srgb), np.ones((len(srgb), 1))], 1).astype(np.float32)
        self.colour.data.foreach_set("color", rgba.ravel())
        self.mesh.update()

    def render(self, vertices_world, box=None) -> np.ndarray:
        """(V, 3) world (Z-up) vertices -> (H, W, 4) uint8 BGRA frame. ``box`` (x0, y0, x1, y1)
        in pixels, if given, limits rendering to the region the body covers (the rest stays
        transparent): on software OpenGL the time goes with the rendered area."""
        import cv2

        self.mesh.vertices.foreach_set("co", np.asarray(vertices_world, np.float32).ravel())
        self.mesh.update()
        render = self.scene.render
        render.use_border = box is not None
        render.use_crop_to_border = False
        if box is not None:
            w, h = render.resolution_x, render.resolution_y
            x0, y0, x1, y1 = box
            render.border_min_x, render.border_max_x = np.clip([(x0 - 8) / w, (x1 + 8) / w], 0, 1)
            render.border_min_y, render.border_max_y = np.clip([1 - (y1 + 8) / h, 1 - (y0 - 8) / h], 0, 1)
            if min((render.border_max_x - render.border_min_x) * w, (render.border_max_y - render.border_min_y) * h) < 4:
                return np.zeros((h, w, 4), np.uint8)  # the body is out of the picture (Blender refuses)
        self.scene.render.filepath = self._frame_path
        with _quiet_stdout():
            bpy.ops.render.render(write_still=True)
        return cv2.imread(self._frame_path, cv2.IMREAD_UNCHANGED)
