"""The training set: motion clips from ``.npz`` files, in the Y-up world the prior is trained in.

Either one clip per file in AMASS layout (``poses`` (T, 72+) axis-angle, Y-up, or AMASS's Z-up
world with ``amass_z_up``) or several clips packed in one file (``poses`` (N, 72) plus ``clips``,
a JSON list of name / start / frames, as tools/build_motion_dataset.py writes
data/motion/open_clips.npz).
"""
import json
import os

import numpy as np

from smplcore import axes
from smplcore.body_model_file import default_body_model_path, load_body_model_file
from smplcore.rotations import axis_angle_to_matrix, matrix_to_axis_angle


def _files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                yield from (os.path.join(root, n) for n in sorted(names) if n.endswith(".npz"))
        else:
            yield path


def load_clips(paths, amass_z_up=False, exclude=(), only=None, with_trans=False):
    """{clip name: (T, 72) axis-angle poses, Y-up world}; names containing an ``exclude``
    string are left out (held out), or only those in ``only`` are kept. ``with_trans`` gives
    {name: (poses, trans (T, 3) or None)} instead. AMASS's Z-up world is turned about the
    pelvis of the shipped body at rest, as the AMASS importer does."""
    pelvis = load_body_model_file(default_body_model_path()).rest_joints()[0] if amass_z_up else None
    clips = {}
    for path in _files(paths):
        with np.load(path, allow_pickle=False) as data:
            poses = data["poses"][:, :72].astype(np.float64)
            trans = data["trans"].astype(np.float64) if "trans" in data.files else None
            if "clips" in data.files:  # packed: a JSON table of name / start / frames per clip
                spans = {c["name"]: slice(c["start"], c["start"] + c["frames"]) for c in json.loads(str(data["clips"]))}
            else:
                spans = {os.path.splitext(os.path.relpath(path))[0]: slice(None)}
        for name, span in spans.items():
            if any(x in name for x in exclude) or (only is not None and name not in only):
                continue
            p, t = poses[span], None if trans is None else trans[span]
            if amass_z_up:
                p = p.copy()
                root, turned = axes.z_up_to_y_up(axis_angle_to_matrix(p[:, :3]), np.zeros((len(p), 3)) if t is None else t,
                                                 pelvis)
                p[:, :3], t = matrix_to_axis_angle(root), None if t is None else turned
            clips[name] = (p, t) if with_trans else p
    if not clips:
        raise ValueError(f"no motion clips found in {list(paths)}")
    return clips
