"""Operators: every sidebar button is a ``bpy.ops.scorehmr.*`` call usable from scripts."""
import bpy

from . import backend_ops, bake_ops, export_ops, import_ops, refine_ops

classes = (*import_ops.classes, *refine_ops.classes, *bake_ops.classes, *export_ops.classes,
           *backend_ops.classes)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
