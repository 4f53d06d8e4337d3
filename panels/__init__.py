"""The "ScoreHMR" tab in the 3D viewport sidebar."""
import bpy

from . import sidebar

classes = sidebar.classes

register, unregister = bpy.utils.register_classes_factory(classes)
