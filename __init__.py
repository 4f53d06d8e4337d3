# SPDX-License-Identifier: GPL-3.0-or-later
"""ScoreHMR Motion Capture: markerless video motion capture for Blender.

Blender's Python only runs the UI, scene building, keying and retargeting (numpy). Video
processing and ScoreHMR run in a separate backend process (``python -m backend serve``) with
its own interpreter, chosen or created in the add-on preferences.
"""
from . import operators, panels
from .scorehmr_blender import client, preferences, properties


def register():
    preferences.register()
    properties.register()
    operators.register()
    panels.register()


def unregister():
    client.shutdown_shared_backend()
    panels.unregister()
    operators.unregister()
    properties.unregister()
    preferences.unregister()
