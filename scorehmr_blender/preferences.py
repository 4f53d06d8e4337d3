"""Add-on preferences: which interpreter runs the backend, and what it runs with."""
import os
import sys
import tempfile

import bpy

from . import ADDON_PACKAGE, client, tasks

VENV_DIRNAME = "backend-venv"


def get(context=None):
    context = context or bpy.context
    return context.preferences.addons[ADDON_PACKAGE].preferences


def user_dir(*parts):
    """A folder under the extension's user directory (the only place an extension may write)."""
    try:
        base = bpy.utils.extension_path_user(ADDON_PACKAGE, create=True)
    except ValueError:  # loaded as a legacy add-on (development): no extension user folder
        base = os.path.join(tempfile.gettempdir(), "scorehmr_mocap")
    path = os.path.join(base, *parts)
    os.makedirs(path, exist_ok=True)
    return path


def venv_dir():
    return os.path.join(user_dir(), VENV_DIRNAME)


def backend_python(prefs):
    """The configured interpreter, or the best auto-detected one ('' when none is found)."""
    if prefs.python_path:
        return bpy.path.abspath(prefs.python_path)
    found = client.default_python_candidates(venv_dir())
    return found[0] if found else ""


def backend_options(prefs):
    """The ``options`` object of run/refine requests."""
    return {
        "device": prefs.device.lower(),
        "body_model": bpy.path.abspath(prefs.body_model_path) if prefs.body_model_path else None,
        "checkpoint": bpy.path.abspath(prefs.checkpoint_path) if prefs.checkpoint_path else None,
    }


def base_python_for_venv():
    """A Python 3.11 to create the backend venv with (Blender 4.2-4.5 bundle one)."""
    import shutil

    found = shutil.which("python3.11")
    if found:
        return found
    if sys.version_info[:2] == (3, 11) and os.path.basename(sys.executable).startswith("python"):
        return sys.executable
    return ""


class ScoreHMRPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    python_path: bpy.props.StringProperty(
        name="Backend Python", subtype="FILE_PATH",
        description="Interpreter that runs the backend (torch, mediapipe). Empty: auto-detect "
                    "(the add-on's own environment, then a Python 3.11 on PATH)")
    device: bpy.props.EnumProperty(
        name="Device", default="AUTO",
        items=[("AUTO", "Auto", "CUDA when available, else CPU"),
               ("CPU", "CPU", "Always run on the CPU"),
               ("CUDA", "CUDA", "Run on the NVIDIA GPU")])
    body_model_path: bpy.props.StringProperty(
        name="Body Model", subtype="FILE_PATH",
        description="SMPL-format body model (.pkl/.npz). Empty: the shipped SMPL-compatible neutral "
                    "model; point it at SMPL_NEUTRAL.pkl to use the official SMPL")
    checkpoint_path: bpy.props.StringProperty(
        name="Checkpoint", subtype="FILE_PATH",
        description="ScoreHMR diffusion model checkpoint. Empty: the backend's default")
    doctor_report: bpy.props.StringProperty(
        name="Backend Check", description="Output of the last Verify")

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "python_path")
        if not self.python_path:
            found = backend_python(self)
            col.label(text=f"Auto-detected: {found}" if found else "No backend Python found: create one below",
                      icon="INFO" if found else "ERROR")
        row = col.row(align=True)
        row.operator("scorehmr.create_backend_env", icon="CONSOLE")
        row.operator("scorehmr.verify_backend", icon="CHECKMARK")
        task = tasks.active()
        if task is not None:
            box = col.box()
            box.label(text=task.status, icon="TIME")
            if task.progress is not None:
                box.progress(factor=task.progress, text=f"{task.progress:.0%}")
            box.operator("scorehmr.cancel", icon="CANCEL")
        col.separator()
        col.prop(self, "device")
        col.prop(self, "body_model_path")
        col.prop(self, "checkpoint_path")
        if self.doctor_report:
            box = layout.box()
            for line in self.doctor_report.splitlines()[:24]:
                box.label(text=line)


def register():
    bpy.utils.register_class(ScoreHMRPreferences)


def unregister():
    bpy.utils.unregister_class(ScoreHMRPreferences)
