"""Shared test setup.

Blender (the bpy module) reads its user folder once, when first imported: point it at a
throw-away one before any test module imports bpy, so that no user preferences, extensions or
startup file leak into the tests (tests/blender_env.py installs the extension there).
"""
import os
import tempfile

os.environ["BLENDER_USER_RESOURCES"] = os.path.join(tempfile.mkdtemp(prefix="scorehmr-blender-"), "user")
