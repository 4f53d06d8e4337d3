"""Errors the backend reports to users: a code (from the protocol), a message and a hint.

The same :class:`BackendError` (defined in ``smplcore.protocol``, shared with the add-on) becomes
a CLI exit status and message, or a protocol ``error`` event. :func:`as_backend_error` turns anything else raised inside a job into one, so a crash
never reaches the client as silence.
"""
import sys

from smplcore.protocol import SETUP_HINT, BackendError  # noqa: F401  (the one error type, re-exported here)


BODY_MODEL_HINT = "use the official SMPL_NEUTRAL.pkl/.npz or leave the body model unset (the shipped model)"


class Cancelled(Exception):
    """The client (or Ctrl-C) asked the running job to stop."""


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    # torch.OutOfMemoryError subclasses RuntimeError; older torch only says it in the message.
    # Checked by name so this module never imports torch.
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def as_backend_error(exc: BaseException) -> BackendError:
    """The user-facing error for an exception raised inside a job (``internal`` when unknown).

    Standard library only: this runs in the error path, where numpy may be what is missing."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, ImportError):
        name = getattr(exc, "name", None) or str(exc)
        return BackendError("missing_packages", f"the backend's Python cannot import {name}: {exc}", SETUP_HINT)
    if is_out_of_memory(exc):
        return BackendError(
            "out_of_memory", f"ran out of memory: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            "process a shorter frame range (--start/--end), close other programs, or use --device cpu "
            "when the GPU is small")
    result_module = sys.modules.get("smplcore.result")  # never imported here: it needs numpy
    if result_module is not None and isinstance(exc, result_module.ResultFileError):
        return BackendError("bad_result", str(exc), "the result file is damaged or was not written by ScoreHMR: "
                            "import the video again to write a new one")
    return BackendError("internal", f"internal error: {type(exc).__name__}: {exc}",
                        "this is a bug: please report it with the backend log")
