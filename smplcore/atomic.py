"""Writing a file so that no reader ever sees half of it and nothing is lost on a crash: a hidden
temporary file in the same folder, renamed over the target, with the permissions a plain open()
would give. Standard library only (serve's error path and the persons index use it without numpy)."""
import os
import tempfile


def file_mode(path) -> int:
    """The permission bits for a new file under the process umask; an existing file keeps its own."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        pass
    try:  # Linux: read the umask without changing it (os.umask would race with other threads)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path, write) -> None:
    """``write(fh)`` fills a binary file handle; ``path`` then appears whole or not at all. The
    temporary name is hidden (a dot file), so a process killed mid-write leaves no look-alike."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    mode = file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)  # 0600 ...
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, mode)  # ... so give it the mode a plain open() would have
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
