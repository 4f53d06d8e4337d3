"""Start backend jobs with the user's preferences (shared by the operators and the tests)."""
import os

import bpy

from ..smplcore.protocol import BackendError
from . import client, preferences, takes, tasks


def backend(context):
    prefs = preferences.get(context)
    found = preferences.find_backend(prefs)
    if found is None or not found.ok:
        why = found.summary if found is not None else "no Python with the backend's packages was found"
        raise BackendError("no_python", f"Backend not set up: {why}",
                           "Preferences > Add-ons > ScoreHMR: Create Backend Environment")
    log_path = os.path.join(preferences.user_dir("logs"), "backend.log")
    return client.shared_backend(found.python, log_path=log_path)


def _options(context, **extra):
    options = preferences.backend_options(preferences.get(context))
    options["overwrite"] = True  # the output is the empty file takes.new_result_path reserved
    options.update({k: v for k, v in extra.items() if v is not None})
    return options


def start_import(context, video_path, start=None, end=None, focal=None, person=None):
    """Run the backend on ``video_path`` (video frames ``start..end``, None: all; ``person``:
    "main", "all" or a number, None: the backend's default, the main person)."""
    video_path = os.path.abspath(bpy.path.abspath(video_path))
    if not os.path.isfile(video_path):
        raise ValueError(f"video not found: {video_path}")
    stem = os.path.splitext(os.path.basename(video_path))[0]
    server = backend(context)
    out = takes.new_result_path(stem)
    job = server.run(video_path, out, _options(context, focal=focal, person=person,
                                               foot_lock=context.scene.scorehmr.foot_lock,
                                               height=context.scene.scorehmr.performer_height or None,
                                               hands=bool(context.scene.scorehmr.hands)), start=start, end=end)
    return tasks.JobTask("Import", job, on_discard=lambda: takes.release_result_path(out))


def start_refine(context, result_path, first, last, fixed):
    stem = os.path.splitext(os.path.basename(result_path))[0].rsplit("-", 1)[0]
    server = backend(context)
    out = takes.new_result_path(stem)
    job = server.refine(result_path, out, first, last, fixed, _options(context),
                        contacts=context.scene.scorehmr.refine_contacts)
    return tasks.JobTask("Refine", job, on_discard=lambda: takes.release_result_path(out))
