"""Turn the user's ``--device`` choice into a torch device string, or a clear ``bad_device`` error;
how many CPU threads the solver uses."""
import os
from contextlib import contextmanager

from backend.errors import BackendError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str | None) -> str:
    """``auto`` -> ``cuda`` when usable, else ``cpu``; ``cuda``/``cuda:N`` must exist."""
    requested = (requested or "auto").strip().lower()
    if requested == "cpu":
        return "cpu"
    if requested != "auto" and requested != "cuda" and not requested.startswith("cuda:"):
        raise BackendError("bad_device", f"unknown device {requested!r}",
                           "use --device auto, cpu or cuda (optionally cuda:N)")
    import torch  # only here: importing torch takes seconds

    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise BackendError("bad_device", "CUDA was requested but no usable CUDA GPU was found "
                           f"(torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'})",
                           "use --device cpu (or auto), or install a CUDA build of torch that matches your driver")
    if requested.startswith("cuda:"):
        index = requested.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise BackendError("bad_device", f"there is no GPU {requested!r} "
                               f"(this machine has {torch.cuda.device_count()})", "use --device cuda or cuda:0")
    return requested


def solver_cpu_threads() -> int:
    """Torch CPU threads for the solver: two where torch's waiting threads sleep
    (``OMP_WAIT_POLICY=PASSIVE``, which ``backend`` sets before torch loads), else one. The
    solver's tensors are small (a few hundred rows): a third thread gains nothing, and threads
    that spin while they wait make it several times slower whenever another program holds a core
    (measured with bench/speed.py beside a MediaPipe run)."""
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        return 1
    return max(1, min(2, os.cpu_count() or 1))


@contextmanager
def cpu_threads(count: int | None = None):
    """Run a block with ``count`` torch CPU threads (None: ``solver_cpu_threads()``), restoring
    the previous setting after."""
    import torch

    count = count or solver_cpu_threads()
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
