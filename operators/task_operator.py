"""Base for operators whose work is a task (backend job, environment setup).

From a button (INVOKE) the operator is modal and its timer is the only thing that steps the task
(drains backend events), so Blender keeps drawing; ESC or the sidebar's Cancel stops it. From
scripts, ``blender -b`` and the bpy module (EXEC, or no window: timers never fire there) it waits
for the task instead.
"""
import bpy

from ..scorehmr_blender import tasks
from ..scorehmr_blender.client import CANCELLED, DONE, RUNNING
from ..smplcore.protocol import BackendError

TIMER_SECONDS = 0.2


def free_in_object_mode(cls, context) -> bool:
    """poll() check shared by the operators that build scene content: no other ScoreHMR task is
    running and Blender is in Object mode; otherwise the greyed button says which."""
    if tasks.active() is not None:
        cls.poll_message_set("Another ScoreHMR task is running")
        return False
    if context.mode != "OBJECT":
        cls.poll_message_set("Works in Object mode")
        return False
    return True


class TaskOperator:
    _timer = None
    _task = None
    _printed = ""

    def _print_progress(self, task):
        # headless runs have no panel: print each new status line once
        if task.status != self._printed:
            self._printed = task.status
            print(f"ScoreHMR: {task.status}", flush=True)

    def start_task(self, context):
        """Start the work and return its task; raise BackendError/ValueError/OSError to refuse."""
        raise NotImplementedError

    def finish_task(self, context, task):
        """Use the finished task's output; returns the operator's result set."""
        raise NotImplementedError

    @staticmethod
    def headless(context):
        return bpy.app.background or context.window is None

    def invoke(self, context, event):
        if self.headless(context):
            return self.execute(context)
        return self.start_modal(context)

    def start_modal(self, context):
        if not self._begin(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_SECONDS, window=context.window)
        self.add_modal_handler(context)
        return {"RUNNING_MODAL"}

    def add_modal_handler(self, context):
        context.window_manager.modal_handler_add(self)

    def execute(self, context):
        if not self._begin(context):
            return {"CANCELLED"}
        try:
            self._task.wait(on_update=self._print_progress if bpy.app.background else None)
        except KeyboardInterrupt:
            self._task.cancel()
            self._task.wait()
        return self._end(context)

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._task.cancel()
        if event.type == "TIMER":
            self._task.step()
        if self._task.state == RUNNING:
            if event.type == "TIMER":
                _redraw(context)
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        self._timer = None
        _redraw(context)
        return self._end(context)

    def _begin(self, context):
        if tasks.active() is not None:
            self.report({"ERROR"}, f"Busy: {tasks.active().status}. Cancel it first")
            return False
        try:
            self._task = self.start_task(context)
        except (BackendError, ValueError, OSError, ReferenceError) as exc:
            self.report({"ERROR"}, str(exc))
            return False
        tasks.set_active(self._task)
        return True

    def _end(self, context):
        task = self._task
        if task.state == DONE:
            try:
                result = self.finish_task(context, task)
            except (ValueError, OSError, RuntimeError, ReferenceError) as exc:
                task.discard()
                tasks.last_status = f"{task.label} failed: {exc}"
                self.report({"ERROR"}, tasks.last_status)
                return {"CANCELLED"}
            return result
        task.discard()
        if task.state == CANCELLED:
            tasks.last_status = f"{task.label} cancelled"
            self.report({"WARNING"}, tasks.last_status)
        else:
            tasks.last_status = f"{task.label} failed: {task.error}"
            self.report({"ERROR"}, tasks.last_status)
        return {"CANCELLED"}


def _redraw(context):
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES"}:
                area.tag_redraw()
