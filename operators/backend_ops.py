"""Backend environment: create the venv (asks first, online access only), verify it, cancel."""
import os

import bpy

from ..scorehmr_blender import ADDON_ROOT, backend_env, preferences, tasks
from ..scorehmr_blender.client import DONE
from .task_operator import TaskOperator


def _download_text():
    cuda = backend_env.has_nvidia_gpu()
    total = backend_env.download_estimate_mb(cuda)
    build = "CUDA build for your NVIDIA GPU" if cuda else "CPU build (no NVIDIA GPU found)"
    return f"Downloads about {total / 1000:.1f} GB (torch {build}, OpenCV, MediaPipe...)"


class SCOREHMR_OT_create_backend_env(TaskOperator, bpy.types.Operator):
    """Create a Python environment for the backend in the extension's user folder and install the
    pinned backend packages into it (0.4 GB without an NVIDIA GPU, about 3 GB with; asks first)"""

    bl_idname = "scorehmr.create_backend_env"
    bl_label = "Create Backend Environment"

    interactive: bpy.props.BoolProperty(options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        if tasks.active() is not None:
            cls.poll_message_set("Another ScoreHMR task is running")
            return False
        if not bpy.app.online_access:
            cls.poll_message_set("Online access is off: allow it in Preferences > System > Network")
            return False
        return True

    def invoke(self, context, event):
        if self.headless(context):
            return self.execute(context)
        self.interactive = True
        return context.window_manager.invoke_props_dialog(self, width=460, confirm_text="Download and Install")

    def draw(self, context):
        col = self.layout.column(align=True)
        col.label(text=_download_text(), icon="URL")
        col.label(text=f"from PyPI and download.pytorch.org into {preferences.venv_dir()}")
        col.label(text="It takes several minutes; Cancel removes the unfinished environment.")

    def execute(self, context):
        if self.interactive:
            return self.start_modal(context)  # confirmed in the dialog: run without blocking
        return super().execute(context)

    def start_task(self, context):
        if not bpy.app.online_access:
            raise ValueError("online access is off (Preferences > System > Network): nothing was downloaded")
        base = backend_env.base_python()
        if not base:
            raise ValueError("needs a Python 3.11 to build the environment: install python3.11 or "
                             "set Backend Python to an existing interpreter")
        venv = preferences.venv_dir()
        backend_env.remove_partial(venv)  # left over from a crash: start clean
        if os.path.isdir(venv):
            raise ValueError(f"{venv} already exists: delete it to create it again")
        steps = backend_env.install_steps(base, venv, os.path.join(ADDON_ROOT, "requirements.txt"),
                                          cuda=backend_env.has_nvidia_gpu())

        def on_end(state):  # in the task's thread, whatever the outcome
            if state == DONE:
                backend_env.mark_complete(venv)
            else:
                backend_env.remove_partial(venv)

        return tasks.CommandTask("Backend setup", steps, cwd=ADDON_ROOT, env=backend_env.clean_env(),
                                 on_end=on_end)

    def finish_task(self, context, task):
        prefs = preferences.get(context)
        prefs.python_path = ""  # auto-detection now finds the new environment first
        found = preferences.find_backend(prefs)
        if found is None or not found.ok:
            raise RuntimeError(f"the new environment does not work: {found.summary if found else 'not found'}")
        tasks.last_status = f"Backend environment ready ({task.downloaded_mb:,.0f} MB downloaded): {found.python}"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}


class SCOREHMR_OT_verify_backend(TaskOperator, bpy.types.Operator):
    """Run 'python -m backend doctor' with the backend Python: packages, device, the chosen body
    model and checkpoint, MediaPipe"""

    bl_idname = "scorehmr.verify_backend"
    bl_label = "Verify"

    @classmethod
    def poll(cls, context):
        if tasks.active() is not None:
            cls.poll_message_set("Another ScoreHMR task is running")
            return False
        return True

    def start_task(self, context):
        prefs = preferences.get(context)
        backend_env.forget_probes()
        found = preferences.find_backend(prefs)
        if found is None or not found.ok:
            why = found.summary if found is not None else "no Python with the backend's packages was found"
            prefs.doctor_report = f"Backend not set up: {why}"
            raise ValueError(prefs.doctor_report)
        options = preferences.backend_options(prefs)
        argv = backend_env.doctor_argv(found.python, options["body_model"] or "", options["checkpoint"] or "")
        return tasks.CommandTask("Verify", [("Checking the backend", 1.0, argv)], cwd=ADDON_ROOT,
                                 env=backend_env.clean_env())

    def finish_task(self, context, task):
        lines, problems = backend_env.read_doctor(task.stdout)
        preferences.get(context).doctor_report = "\n".join(lines + [f"Problem: {p}" for p in problems])
        if problems:
            raise RuntimeError("; ".join(problems))
        tasks.last_status = "Backend verified"
        self.report({"INFO"}, tasks.last_status)
        return {"FINISHED"}

    def _end(self, context):
        if self._task.state not in (DONE,):
            tail = "\n".join(list(self._task.log)[-8:])
            preferences.get(context).doctor_report = f"Verify failed: {self._task.error}\n{tail}"
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
