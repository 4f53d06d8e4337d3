"""MediaPipe's 33 pose landmarks as a fixed linear function of body-model vertices and joints.

landmark[l] = sum_k vertex_weights[l, k] * vertex[vertex_ids[l, k]] + sum_j joint_weights[l, j] * joint[j]

The shipped model carries its own definition (vertex patches chosen on its mesh by
tools/build_body_model.py). Official SMPL meshes use the table below, built on SMPL vertex ids
that smplx publishes (nose, eyes, ears, toes, heels, fingertips) and on SMPL's joints; eye
corners and mouth corners are affine combinations of those points (approximate by a few mm,
and they carry little weight in fitting).
"""
import numpy as np

from smplcore.skeleton import JOINT_INDEX, LANDMARK_NAMES, NUM_JOINTS

SMPL_NUM_VERTICES = 6890

# landmarks that sit on SMPL joints
_SMPL_JOINT_LANDMARKS = {
    "shoulder": "shoulder", "elbow": "elbow", "wrist": "wrist",
    "hip": "hip", "knee": "knee", "ankle": "ankle",
}


def _smpl_vertex_table():
    from smplx.vertex_ids import vertex_ids  # SMPL(-H) vertex ids for keypoints

    return vertex_ids["smplh"]


def smpl_definition():
    """(vertex_ids (33,K), vertex_weights (33,K), joint_weights (33,24)) for official SMPL."""
    v = _smpl_vertex_table()
    terms = {}  # name -> list of ("v"|"j", index, weight)
    eye = {"left": v["leye"], "right": v["reye"]}
    for side, other in (("left", "right"), ("right", "left")):
        terms[f"{side}_eye"] = [("v", eye[side], 1.0)]
        # corners ~1.5 cm either side of the eye centre along the inter-ocular line (6.3 cm)
        terms[f"{side}_eye_inner"] = [("v", eye[side], 0.76), ("v", eye[other], 0.24)]
        terms[f"{side}_eye_outer"] = [("v", eye[side], 1.24), ("v", eye[other], -0.24)]
        terms[f"{side}_ear"] = [("v", v["lear" if side == "left" else "rear"], 1.0)]
        s = side[0]
        terms[f"{side}_heel"] = [("v", v[f"{s.upper()}Heel"], 1.0)]
        terms[f"{side}_foot_index"] = [("v", v[f"{s.upper()}BigToe"], 0.7), ("v", v[f"{s.upper()}SmallToe"], 0.3)]
        hand = JOINT_INDEX[f"{side}_hand"]
        terms[f"{side}_pinky"] = [("v", v[f"{s}pinky"], 0.5), ("j", hand, 0.5)]
        terms[f"{side}_index"] = [("v", v[f"{s}index"], 0.5), ("j", hand, 0.5)]
        terms[f"{side}_thumb"] = [("v", v[f"{s}thumb"], 0.6), ("j", JOINT_INDEX[f"{side}_wrist"], 0.4)]
        for part, joint in _SMPL_JOINT_LANDMARKS.items():
            terms[f"{side}_{part}"] = [("j", JOINT_INDEX[f"{side}_{joint}"], 1.0)]
    terms["nose"] = [("v", v["nose"], 1.0)]
    # mouth centre ~ nose + 0.8 (nose - eye midpoint); corners +-0.38 inter-ocular vectors
    for side, sign in (("left", 1.0), ("right", -1.0)):
        terms[f"mouth_{side}"] = [("v", v["nose"], 1.8), ("v", v["leye"], -0.4 + 0.38 * sign),
                                  ("v", v["reye"], -0.4 - 0.38 * sign)]
    return _pack(terms)


def _pack(terms):
    k = max(len([t for t in terms[n] if t[0] == "v"]) for n in LANDMARK_NAMES)
    ids = np.zeros((len(LANDMARK_NAMES), max(k, 1)), dtype=np.int64)
    vw = np.zeros(ids.shape)
    jw = np.zeros((len(LANDMARK_NAMES), NUM_JOINTS))
    for l, name in enumerate(LANDMARK_NAMES):
        verts = [t for t in terms[name] if t[0] == "v"]
        for k_i, (_, idx, w) in enumerate(verts):
            ids[l, k_i], vw[l, k_i] = idx, w
        for kind, idx, w in terms[name]:
            if kind == "j":
                jw[l, idx] += w
    return ids, vw, jw


# Offsets fitted by tools/fit_landmarks.py (where MediaPipe puts these landmarks on rendered
# bodies, relative to the SMPL joints they sit on), in millimetres in the rest frame of the bone
# they move with. Official SMPL's face, hand and foot points are its own vertices and stay as they are.
# python -m tools.fit_landmarks (314 detected frames of 6 training renders; data/README.md)
SMPL_LIMB_OFFSETS_MM = {
    "left_shoulder": (3.6, -3.9, -1.5), "right_shoulder": (-3.6, -3.9, -1.5),
    "left_elbow": (4.5, -0.4, 15.7), "right_elbow": (-4.5, -0.4, 15.7),
    "left_wrist": (12.3, -5.8, 4.1), "right_wrist": (-12.3, -5.8, 4.1),
    "left_hip": (-19.4, 0.2, 16.6), "right_hip": (19.4, 0.2, 16.6),
    "left_knee": (-3.2, -8.6, -8.3), "right_knee": (3.2, -8.6, -8.3),
    "left_ankle": (2.7, 36.2, 13.4), "right_ankle": (-2.7, 36.2, 13.4),
}


def offsets_for(arrays, bones_of):
    """(offsets (33, 3) metres, bones (33,)): landmark l moves by R[bones[l]] @ offsets[l].
    ``bones_of``: the bone each landmark moves with, for definitions that do not store one."""
    if "landmark_offsets" in arrays.extras:
        return (np.asarray(arrays.extras["landmark_offsets"], dtype=np.float64),
                np.asarray(arrays.extras["landmark_offset_joints"], dtype=np.int64))
    offsets = np.zeros((len(LANDMARK_NAMES), 3))
    if arrays.num_vertices == SMPL_NUM_VERTICES:
        for l, name in enumerate(LANDMARK_NAMES):
            offsets[l] = np.asarray(SMPL_LIMB_OFFSETS_MM.get(name, (0.0, 0.0, 0.0))) / 1000.0
    return offsets, np.asarray(bones_of, dtype=np.int64)


def definition_for(arrays):
    """Landmark definition for a loaded body model (smplcore BodyModelArrays)."""
    if "landmark_vertex_ids" in arrays.extras:
        ids = np.asarray(arrays.extras["landmark_vertex_ids"], dtype=np.int64)
        vw = np.asarray(arrays.extras["landmark_vertex_weights"], dtype=np.float64)
        return ids, vw, np.zeros((len(LANDMARK_NAMES), NUM_JOINTS))
    if arrays.num_vertices == SMPL_NUM_VERTICES:
        return smpl_definition()
    from smplcore.body_model_file import BodyModelError

    raise BodyModelError(
        f"{arrays.path}: no MediaPipe landmark definition for a mesh of {arrays.num_vertices} "
        f"vertices (supported: the shipped model, or official SMPL with {SMPL_NUM_VERTICES})")
