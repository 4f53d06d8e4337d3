"""The one place where SMPL / OpenCV axes meet Blender's.

Frames:
- SMPL body frame (rest pose, body model files): +X the person's left, +Y up, +Z forward.
- OpenCV camera frame (result ``trans``, global orientation): +X right, +Y down, +Z forward.
- Blender world: Z up. The video camera sits at the origin looking along +Y, so the camera
  frame maps to (x, z, -y); a body at rest faces -Y (Blender's "front").
"""
import numpy as np

# point in OpenCV camera frame -> point in Blender world
OPENCV_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# point in SMPL body (rest) frame -> point in Blender armature space
SMPL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def opencv_points_to_blender(p):
    return np.asarray(p, dtype=np.float64) @ OPENCV_TO_BLENDER.T


def blender_points_to_opencv(p):
    return np.asarray(p, dtype=np.float64) @ OPENCV_TO_BLENDER


def smpl_points_to_blender(p):
    return np.asarray(p, dtype=np.float64) @ SMPL_TO_BLENDER.T


def blender_points_to_smpl(p):
    return np.asarray(p, dtype=np.float64) @ SMPL_TO_BLENDER


def camera_scene_to_world(cam_to_world):
    """(4, 4): the scene as imported in the camera frame (video camera at the origin looking
    along +Y) -> the world of a result's ``cam_to_world`` (Z up, floor z = 0; already Blender's
    axes). Applied to the armature and the camera alike, so the camera's view is unchanged."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(cam_to_world, np.float64)[:3, :3] @ OPENCV_TO_BLENDER.T
    m[:3, 3] = np.asarray(cam_to_world, np.float64)[:3, 3]
    return m


def root_rotation_to_blender(global_orient_matrix):
    """Map SMPL's global orientation (body frame -> camera frame) to the rotation that takes a
    Blender rest-pose armature (built with SMPL_TO_BLENDER) to its posed place in the world."""
    return OPENCV_TO_BLENDER @ np.asarray(global_orient_matrix) @ SMPL_TO_BLENDER.T


def root_rotation_from_blender(world_rotation):
    return OPENCV_TO_BLENDER.T @ np.asarray(world_rotation) @ SMPL_TO_BLENDER


# point in a Z-up world (AMASS) -> point in the Y-up world of SMPL's body frame and of the
# training clips: a quarter turn about X (keeps handedness)
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def turn_smpl_world(rotation, global_orient, trans, pelvis):
    """A posed SMPL body in a world turned by ``rotation`` (3, 3): its global orientation
    (..., 3, 3) turns with the world, and so does its translation (..., 3) — about the pelvis's
    rest position ``pelvis`` (3,), which SMPL's root rotation pivots about:
    trans' = R (trans + p) - p."""
    rotation = np.asarray(rotation, dtype=np.float64)
    pelvis = np.asarray(pelvis, dtype=np.float64)
    return rotation @ np.asarray(global_orient), (np.asarray(trans) + pelvis) @ rotation.T - pelvis


def z_up_to_y_up(global_orient, trans, pelvis):
    return turn_smpl_world(Z_UP_TO_Y_UP, global_orient, trans, pelvis)


def y_up_to_z_up(global_orient, trans, pelvis):
    return turn_smpl_world(Z_UP_TO_Y_UP.T, global_orient, trans, pelvis)
