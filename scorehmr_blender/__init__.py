"""Blender-side core of the add-on: backend client, scene building, keying, retargeting.

Only bpy and numpy here; the torch backend is a separate process (see ``client``).
"""
import os

# The extension's own package name (``bl_ext.<repo>.scorehmr_mocap``): what preferences and
# ``extension_path_user`` are keyed by.
ADDON_PACKAGE = __package__.rpartition(".")[0]
# The extension root: holds ``backend/``, ``smplcore/`` and ``data/``.
ADDON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
