"""Add-on preferences: which interpreter runs the backend, and what it runs with."""
import os
import tempfile

import bpy

from . import ADDON_PACKAGE, backend_env, tasks

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
    return os.path.join(user_dir(), backend_env.VENV_DIRNAME)


def chosen_python(prefs):
    return bpy.path.abspath(prefs.python_path) if prefs.python_path else ""


def find_backend(prefs, cached_only=False):
    """The backend interpreter's Probe (None: not set up); see ``backend_env.find_backend``."""
    return backend_env.find_backend(chosen_python(prefs), venv_dir(), cached_only=cached_only)


def backend_options(prefs):
    """The ``options`` object of run/refine requests."""
    return {
        "device": prefs.device.lower(),
        "body_model": bpy.path.abspath(prefs.body_model_path) if prefs.body_model_path else None,
        "checkpoint": bpy.path.abspath(prefs.checkpoint_path) if prefs.checkpoint_path else None,
    }


class ScoreHMRPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    python_path: bpy.props.StringProperty(
        name="Backend Python", subtype="FILE_PATH",
        description="Interpreter that runs the backend (torch, mediapipe). Empty: auto-detect "
                    "(the add-on's own environment, then a Python 3.11 on PATH, if it has the backend's packages)")
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
        draw_backend_state(col, self)
        col.separator()
        col.prop(self, "device")
        col.prop(self, "body_model_path")
        col.prop(self, "checkpoint_path")
        if self.doctor_report:
            box = layout.box()
            for line in self.doctor_report.splitlines()[:24]:
                box.label(text=line)


def draw_backend_state(layout, prefs):
    """Backend line, Create/Verify buttons and the running task (preferences and sidebar).
    Reads the probe cache only: a probe runs on register, before each job and on Create/Verify,
    never from draw() (no update callback either: see properties._picker_filter)."""
    found = find_backend(prefs, cached_only=True)
    if found is None and prefs.python_path:
        layout.label(text="Backend Python not checked yet: press Verify", icon="QUESTION")
    elif found is not None and found.ok:
        layout.label(text=f"Backend: {found.python}", icon="CHECKMARK")
    elif found is not None:
        layout.label(text=f"Backend not usable: {found.summary}", icon="ERROR")
    else:
        layout.label(text="Backend not set up", icon="ERROR")
    row = layout.row(align=True)
    row.operator("scorehmr.create_backend_env", icon="CONSOLE")
    row.operator("scorehmr.verify_backend", icon="CHECKMARK")
    task = tasks.active()
    if task is not None and task.label in ("Backend setup", "Verify"):
        box = layout.box()
        box.label(text=task.status, icon="TIME")
        box.progress(factor=task.progress or 0.0, text=f"{(task.progress or 0.0):.0%}")
        box.operator("scorehmr.cancel", icon="CANCEL")


def register():
    bpy.utils.register_class(ScoreHMRPreferences)
    # one quick probe per candidate now, so the panels can tell the state without running one
    try:
        find_backend(get())
    except KeyError:  # preferences not created yet while the add-on is being enabled
        backend_env.find_backend("", venv_dir())


def unregister():
    bpy.utils.unregister_class(ScoreHMRPreferences)
