"""Short clips cut from a longer video: the inputs of the run-folder tests and benchmarks."""
import os

import cv2

from backend.video import iter_frames, probe


def cut_clip(source, dest, start, count) -> str:
    """Frames ``start .. start + count - 1`` of ``source`` as a new mp4 at ``dest`` (same size and rate)."""
    info = probe(source)
    writer = cv2.VideoWriter(os.fspath(dest), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height))
    try:
        for _, frame in iter_frames(source, start, start + count):
            writer.write(frame)
    finally:
        writer.release()
    return os.fspath(dest)
