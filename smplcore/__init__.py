"""Pure math shared by Blender and the backend: numpy only, no bpy, no torch.

Blender imports this package relatively (``from ..smplcore import rotations``); the backend,
run as ``python -m backend`` from the extension root, imports it as ``smplcore``.
"""
