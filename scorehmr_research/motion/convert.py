"""Shared path from any skeleton's joint positions to a canonical clip:
axes to Y-up -> resample to 30 fps -> IK fit of the body model -> ground and origin."""
import numpy as np

from .canonical import CanonicalClip, normalise_ground_and_origin
from .ik import fit_clip
from .resample import CANONICAL_FPS, resample_linear


def clip_from_positions(model, name, source, licence, positions, joint_names, times, targets,
                        to_y_up=np.eye(3), max_frames=None, iters=400):
    """positions (T, J, 3) metres at ``times`` (T,) seconds; ``targets`` name source joints.

    ``max_frames`` keeps only the first frames at 30 fps (for quick tests)."""
    index = {n: i for i, n in enumerate(joint_names)}
    targets = [t for t in targets if t.source in index]
    cols = [index[t.source] for t in targets]
    pts = np.asarray(positions, dtype=np.float64)[:, cols] @ np.asarray(to_y_up).T
    pts = resample_linear(pts, times, CANONICAL_FPS)
    if max_frames is not None:
        pts = pts[:max_frames]
    fit = fit_clip(model, pts, targets, iters=iters)
    trans = normalise_ground_and_origin(model, fit.poses, fit.trans, fit.betas)
    return CanonicalClip(name, source, licence, fit.poses.astype(np.float32), trans.astype(np.float32),
                         fit.betas.astype(np.float32), CANONICAL_FPS, fit.error_mm,
                         meta={"point_error_mm": dict(zip([t.source for t in targets],
                                                           np.round(fit.point_error_mm, 1).tolist()))})
