"""Operators: every sidebar button is a ``bpy.ops.scorehmr.*`` call usable from scripts."""
import bpy

from . import backend_ops, bake_ops, export_ops, import_ops, refine_ops

classes = (*import_ops.classes, *refine_ops.classes, *bake_ops.classes, *export_ops.classes,
           *backend_ops.classes)

register, unregister = bpy.utils.register_classes_factory(classes)
