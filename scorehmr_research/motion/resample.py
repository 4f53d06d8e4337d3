"""Resampling motion to the canonical 30 fps (linear for positions, normalised lerp for rotations)."""
import numpy as np

from smplcore.rotations import matrix_to_quaternion, quaternion_continuity, quaternion_to_matrix

CANONICAL_FPS = 30.0


def target_times(duration_s, fps=CANONICAL_FPS):
    count = int(np.floor(duration_s * fps + 0.01)) + 1  # tolerate dt rounding (0.033332 s)
    return np.arange(count) / fps


def _bracket(src_times, times):
    i = np.clip(np.searchsorted(src_times, times, side="right") - 1, 0, len(src_times) - 2)
    span = np.maximum(src_times[i + 1] - src_times[i], 1e-12)
    u = np.clip((times - src_times[i]) / span, 0.0, 1.0)
    return i, u


def resample_linear(values, src_times, fps=CANONICAL_FPS):
    """values (T, ...) sampled at src_times (T,) -> values at k/fps over the same span."""
    values = np.asarray(values, dtype=np.float64)
    src_times = np.asarray(src_times, dtype=np.float64) - src_times[0]
    if len(src_times) < 2:
        return values.copy()
    i, u = _bracket(src_times, target_times(src_times[-1], fps))
    u = u.reshape(u.shape + (1,) * (values.ndim - 1))
    return (1 - u) * values[i] + u * values[i + 1]


def resample_rotations(rotmats, src_times, fps=CANONICAL_FPS):
    """rotmats (T, J, 3, 3) -> rotations at k/fps (normalised quaternion lerp, fine between
    neighbouring mocap frames)."""
    q = quaternion_continuity(matrix_to_quaternion(rotmats))
    q = resample_linear(q, src_times, fps)
    return quaternion_to_matrix(q / np.linalg.norm(q, axis=-1, keepdims=True))


def uniform_times(num_frames, fps):
    return np.arange(num_frames) / float(fps)
