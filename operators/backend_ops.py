"""Backend environment: create the venv, verify it, cancel the running task."""
import json
import os
import sys

import bpy

from ..scorehmr_blender import ADDON_ROOT, preferences, tasks
from ..scorehmr_blender.client import DONE
from .task_operator import TaskOperator


class SCOREHMR_OT_create_backend_env(TaskOperator, bpy.types.Operator):
    """Create a Python environment for the backend in the extension's user folder and install the
    pinned backend packages into it (torch, mediapipe, ...: a few GB, several minutes)"""

    bl_idname = "scorehmr.create_backend_env"
    bl_label = "Create Backend Environment"

    def start_task(self, context):
        base = preferences.base_python_for_venv()
        if not base:
            raise ValueError("needs a Python 3.11 to build the environment: install python3.11 or "
                             "set Backend Python to an existing interpreter")
        venv = preferences.venv_dir()
        bin_dir = "Scripts" if sys.platform == "win32" else "bin"
        python = os.path.join(venv, bin_dir, "python.exe" if sys.platform == "win32" else "python")
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
        requirements = os.path.join(ADDON_ROOT, "requirements.txt")
        with open(requirements, encoding="utf-8") as fh:
            torch_pin = next((line.strip() for line in fh if line.startswith("torch")), "torch")
        steps = [
            ("Creating environment", [base, "-m", "venv", venv]),
            ("Updating pip", pip + ["--upgrade", "pip"]),
            # torch alone first, so its pinned build is what the next resolver sees
            ("Installing torch", pip + [torch_pin]),
            ("Installing backend packages", pip + ["-r", requirements]),
        ]
        return tasks.CommandTask("Backend setup", steps, cwd=ADDON_ROOT)

    def finish_task(self, context, task):
        prefs = preferences.get(context)
        prefs.python_path = ""  # auto-detection now finds the new environment first
        tasks.last_status = f"Backend environment ready: {preferences.backend_python(prefs)}"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}


class SCOREHMR_OT_verify_backend(TaskOperator, bpy.types.Operator):
    """Run 'python -m backend doctor' with the backend Python and show what it finds"""

    bl_idname = "scorehmr.verify_backend"
    bl_label = "Verify"

    def start_task(self, context):
        prefs = preferences.get(context)
        python = preferences.backend_python(prefs)
        if not python:
            raise ValueError("no backend Python found: create the backend environment first")
        argv = [python, "-m", "backend", "doctor"]
        if prefs.body_model_path:
            argv += ["--body-model", bpy.path.abspath(prefs.body_model_path)]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
        return tasks.CommandTask("Verify", [("doctor", argv)], cwd=ADDON_ROOT, env=env)

    def finish_task(self, context, task):
        report = task.stdout
        try:
            report = "\n".join(f"{k}: {v}" for k, v in json.loads(report).items())
        except ValueError:
            pass  # show the raw output
        preferences.get(context).doctor_report = report
        tasks.last_status = "Backend verified"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}

    def _end(self, context):
        if self._task.state != DONE:
            preferences.get(context).doctor_report = f"Verify failed:\n{self._task.stdout}"
        return super()._end(context)


class SCOREHMR_OT_cancel(bpy.types.Operator):
    """Cancel the running ScoreHMR task"""

    bl_idname = "scorehmr.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return tasks.active() is not None

    def execute(self, context):
        tasks.active().cancel()
        return {"FINISHED"}


classes = (SCOREHMR_OT_create_backend_env, SCOREHMR_OT_verify_backend, SCOREHMR_OT_cancel)
