"""Start backend jobs with the user's preferences (shared by the operators and the tests)."""
import os
import time

import bpy

from . import client, preferences, tasks


def backend(context):
    prefs = preferences.get(context)
    python = preferences.backend_python(prefs)
    if not python:
        raise client.BackendError("no_python", "no backend Python is set up",
                                  "Preferences > Add-ons > ScoreHMR: Create Backend Environment")
    log_path = os.path.join(preferences.user_dir("logs"), "backend.log")
    return client.shared_backend(python, log_path=log_path)


def new_result_path(stem):
    return os.path.join(preferences.user_dir("results"), f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.npz")


def start_import(context, video_path):
    video_path = os.path.abspath(bpy.path.abspath(video_path))
    if not os.path.isfile(video_path):
        raise ValueError(f"video not found: {video_path}")
    stem = os.path.splitext(os.path.basename(video_path))[0]
    options = preferences.backend_options(preferences.get(context))
    job = backend(context).run(video_path, new_result_path(stem), options)
    return tasks.JobTask("Import", job)


def start_refine(context, result_path, first, last, fixed):
    stem = os.path.splitext(os.path.basename(result_path))[0].split("-refined")[0]
    options = preferences.backend_options(preferences.get(context))
    job = backend(context).refine(result_path, new_result_path(f"{stem}-refined"), first, last, fixed, options)
    return tasks.JobTask("Refine", job)
