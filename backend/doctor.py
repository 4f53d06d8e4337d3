"""``python -m backend doctor``: what this backend would run with, as one JSON object."""
import importlib.metadata
import platform


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _mediapipe_status():
    """Build the pose graph once: proves the bundled tflite models load without a network."""
    try:
        import mediapipe as mp
        import numpy as np

        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
            pose.process(np.zeros((64, 64, 3), dtype=np.uint8))
        return {"ok": True, "model_complexity": 1}
    except Exception as exc:  # report, don't crash: doctor exists to diagnose
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _body_model_status(path):
    from smplcore.body_model_file import default_body_model_path, load_body_model_file

    path = path or default_body_model_path()
    try:
        arrays = load_body_model_file(path)
        return {"path": path, "id": arrays.model_id, "vertices": arrays.num_vertices,
                "shipped": arrays.is_shipped_free_model, "ok": True}
    except Exception as exc:
        return {"path": path, "ok": False, "error": str(exc)}


def collect(body_model=None, checkpoint=None):
    import torch

    from backend.checkpoints import checkpoint_status

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in ("torch", "smplx", "mediapipe", "opencv-contrib-python", "numpy")},
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "body_model": _body_model_status(body_model),
        "checkpoint": checkpoint_status(checkpoint),
        "mediapipe_pose": _mediapipe_status(),
    }
