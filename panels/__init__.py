"""The "ScoreHMR" tab in the 3D viewport sidebar."""
import bpy

from . import sidebar

classes = sidebar.classes


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
