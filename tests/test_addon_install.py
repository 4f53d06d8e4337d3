"""The extension validates, builds, installs from its zip into a fresh repository, enables and
disables cleanly (Blender's own extension CLI and bpy from PyPI)."""
import os
import subprocess
import sys
import zipfile

import blender_env
import bpy

from tools import extension


def test_manifest_validates():
    proc = subprocess.run([sys.executable, extension.blender_ext_cli(), "validate", blender_env.ROOT],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manifest_declares_what_extension_rules_ask_for():
    import tomllib

    with open(os.path.join(blender_env.ROOT, "blender_manifest.toml"), "rb") as fh:
        manifest = tomllib.load(fh)
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["permissions"]["network"] and manifest["copyright"] and manifest["website"]


def test_zip_holds_the_extension_and_not_the_workspace(tmp_path):
    names = zipfile.ZipFile(extension.build_zip(str(tmp_path))).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    for needed in ("scorehmr_blender/client.py", "smplcore/result.py", "backend/__main__.py",
                   "operators/__init__.py", "panels/sidebar.py", "requirements.txt"):
        assert needed in names
    for name in names:
        assert not name.startswith((".venv/", "tests/", "bench/", "tools/", "scorehmr_research/", "data/motion/",
                                    "data/research/", "data/renders/", ".git/", ".ci/", "docs/", "scripts/")), name
        assert not name.endswith((".png", ".jpg", ".mp4")), name  # no pictures or videos
        assert "__pycache__" not in name and not name.endswith(".zip"), name


def test_installed_addon_registers_and_unregisters():
    import addon_utils

    module = blender_env.install_addon()
    assert os.path.commonpath([module.__file__, blender_env.ROOT]) != blender_env.ROOT  # runs from the zip
    ops = ("import_video", "import_result", "refine_frames", "bake_to_armature", "export")
    assert all(hasattr(bpy.ops.scorehmr, op) for op in ops)
    assert hasattr(bpy.types, "SCOREHMR_PT_main") and hasattr(bpy.types.Scene, "scorehmr")

    addon_utils.disable(blender_env.ADDON_MODULE, default_set=True)
    try:
        assert blender_env.ADDON_MODULE not in bpy.context.preferences.addons
        assert not hasattr(bpy.types, "SCOREHMR_PT_main")
        assert not hasattr(bpy.types.Scene, "scorehmr")
        assert not hasattr(bpy.types, "SCOREHMR_OT_import_video")
    finally:
        addon_utils.enable(blender_env.ADDON_MODULE, default_set=True)
    assert hasattr(bpy.types, "SCOREHMR_PT_main") and hasattr(bpy.types, "SCOREHMR_OT_import_video")
    prefs = bpy.context.preferences.addons[blender_env.ADDON_MODULE].preferences
    assert prefs.device == "AUTO"


def test_extension_user_folder_is_writable():
    blender_env.install_addon()
    path = bpy.utils.extension_path_user(blender_env.ADDON_MODULE, create=True)
    assert os.path.isdir(path) and os.access(path, os.W_OK)
