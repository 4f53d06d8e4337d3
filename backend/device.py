"""Turn the user's ``--device`` choice into a torch device string, or a clear ``bad_device`` error."""
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


# The solver's tensors are small (a few hundred rows): on CPU one thread is as fast as two
# when the machine is idle, and 30x faster when anything else holds a core (torch's worker
# threads spin-wait on each other; measured with bench/speed.py beside a MediaPipe run).
SOLVER_CPU_THREADS = 1


@contextmanager
def cpu_threads(count: int = SOLVER_CPU_THREADS):
    """Run a block with ``count`` torch CPU threads, restoring the previous setting after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
