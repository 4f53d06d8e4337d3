"""Build the extension zip with Blender's own CLI and install it into the running bpy, as a
user would (Preferences > Get Extensions > Install from Disk), in a local repository of its own.

Used by the add-on tests (tests/blender_env.py) and the demo (scripts/demo_blender.py). Import
bpy before calling these, after setting BLENDER_USER_RESOURCES if the user folder must be fresh.
"""
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSION_ID = "scorehmr_mocap"  # blender_manifest.toml's id


def addon_module(repo_module):
    return f"bl_ext.{repo_module}.{EXTENSION_ID}"


def blender_ext_cli():
    import bpy

    scripts = bpy.utils.system_resource("SCRIPTS")
    found = glob.glob(os.path.join(scripts, "addons_core", "bl_pkg", "cli", "blender_ext.py"))
    if not found:
        raise RuntimeError("Blender's extension CLI (blender_ext.py) is not inside this bpy")
    return found[0]


def build_zip(out_dir):
    """Build the extension zip into ``out_dir``; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    proc = subprocess.run([sys.executable, blender_ext_cli(), "build", "--source-dir", ROOT,
                           "--output-dir", out_dir], capture_output=True, text=True)
    zips = glob.glob(os.path.join(out_dir, f"{EXTENSION_ID}-*.zip"))
    if proc.returncode != 0 or len(zips) != 1:
        raise RuntimeError(f"building the extension failed ({zips}):\n{proc.stdout}{proc.stderr}")
    return zips[0]


def install(work_dir, repo_module):
    """Build the zip, install it into a new local repository under ``work_dir`` and enable it;
    returns the enabled add-on's module."""
    import bpy

    prefs = bpy.context.preferences
    prefs.use_preferences_save = False
    zip_path = build_zip(os.path.join(work_dir, "dist"))
    prefs.extensions.repos.new(name=repo_module, module=repo_module, source="USER",
                               custom_directory=os.path.join(work_dir, "repo"))
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo=repo_module, enable_on_install=True)
    if result != {"FINISHED"} or addon_module(repo_module) not in prefs.addons:
        raise RuntimeError(f"installing {zip_path} failed: {result}")
    return sys.modules[addon_module(repo_module)]
