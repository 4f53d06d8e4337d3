"""Where a job may write its result: never over its own input, a folder or a stranger's file.

``check_output`` runs before any slow work (and again in ``serve`` against the final path, since
its jobs write to a temporary file first). Replacing an earlier result file is allowed: re-running
a job is normal. Anything else that exists needs ``overwrite`` (``--overwrite``), and an input of
the job (same file, hard link or symlink to it) is refused even then.
"""
import os

from backend.errors import BackendError
from smplcore.atomic import write_atomically


def check_output(out, inputs=(), overwrite=False) -> str:
    """The output path, checked; raises ``BackendError("bad_request")`` naming the problem."""
    from smplcore.result import is_result_file  # numpy: imported here so this module stays stdlib-only

    out = os.fspath(out)
    for source in inputs:
        if source and os.path.exists(out) and os.path.exists(source) and os.path.samefile(out, source):
            raise BackendError("bad_request", f"the output {out} is the input file {source} (or a link to it); "
                               "writing there would destroy the input",
                               "choose another output name, e.g. RESULT.npz next to the video")
    if os.path.isdir(out):
        raise BackendError("bad_request", f"the output {out} is an existing folder",
                           f"give a file name, e.g. {os.path.join(out, 'result.npz')}")
    if os.path.lexists(out) and not overwrite and not (is_result_file(out) or is_persons_index(out)):
        raise BackendError("bad_request", f"the output {out} exists and is not a ScoreHMR result file",
                           "choose another output name, or pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise BackendError("bad_request", f"cannot create the output folder {folder}: {exc.strerror}",
                           "choose an output path in a folder you can write to") from exc
    if not os.access(folder, os.W_OK):
        raise BackendError("bad_request", f"the output folder is not writable: {folder}",
                           "choose an output path in a folder you can write to")
    return out


def is_persons_index(path) -> bool:
    """Whether ``path`` is an earlier ``--person all`` index (replaceable like a result file)."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh).get("format") == "scorehmr-persons"
    except (OSError, ValueError, AttributeError):
        return False


def person_path(out, number: int) -> str:
    """``RESULT.npz`` -> ``RESULT.personN.npz`` (N >= 1): a further person of ``--person all``."""
    stem = out[:-4] if out.endswith(".npz") else out
    return f"{stem}.person{number}.npz"


def index_path(out) -> str:
    """``RESULT.npz`` -> ``RESULT.persons.json``: the persons index of ``--person all``."""
    stem = out[:-4] if out.endswith(".npz") else out
    return f"{stem}.persons.json"


def write_text_atomically(path, text):
    """Write a small text file whole or not at all, with the umask's permissions."""
    write_atomically(path, lambda fh: fh.write(text.encode("utf-8")))
