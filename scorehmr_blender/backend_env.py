"""The backend's interpreter: where it is, whether it really has the backend packages, how to
create it. The one place the add-on decides which Python runs ``python -m backend``.

An interpreter counts as a backend only when a quick probe (``importlib.util.find_spec`` of the
backend's packages in that interpreter, no heavy import) finds them all; probes are cached per
interpreter file and modification time, so the sidebar's ``draw()`` only reads the cache.
"""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from ..smplcore.protocol import REQUIRED_PACKAGES
from . import ADDON_ROOT

VENV_DIRNAME = "backend-venv"
COMPLETE_MARKER = ".scorehmr-complete"  # written last by Create: a venv without it is partial
# mediapipe 0.10.21 declares jax, jaxlib (330 MB), sentencepiece and sounddevice for its LLM/audio
# tasks; pose landmarking needs none of them. It is installed with --no-deps plus what pose uses.
MEDIAPIPE_RUNTIME_DEPS = ("absl-py", "attrs>=19.1.0", "flatbuffers>=2.0", "protobuf>=4.25.3,<5", "matplotlib")
# Download sizes (MB) of the Linux x86-64 wheels, measured with `pip download` (Python 3.11):
# torch 2.13 CPU build 192; PyPI's default build is CUDA's, 555 plus about 2.3 GB of nvidia-*
# libraries; the other pins (opencv-contrib 69, mediapipe 36, scipy 35, numpy 18, matplotlib 10...)
# about 180 together.
DOWNLOAD_MB = {"torch CPU": 192, "torch CUDA": 2850, "other packages": 180}
# Where the CPU-only torch build comes from (PyPI only has the CUDA build for Linux)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def has_nvidia_gpu():
    """An NVIDIA driver is installed (then the CUDA build of torch is worth its size)."""
    if sys.platform == "darwin":
        return False
    return bool(shutil.which("nvidia-smi")) or os.path.exists("/proc/driver/nvidia/version")


def download_estimate_mb(cuda):
    return DOWNLOAD_MB["torch CUDA" if cuda else "torch CPU"] + DOWNLOAD_MB["other packages"]

_probe_cache = {}


@dataclass(frozen=True)
class Probe:
    python: str
    ok: bool
    version: str = ""
    missing: tuple = ()
    error: str = ""

    @property
    def summary(self):
        if self.ok:
            return f"Python {self.version}: backend packages found"
        if self.error:
            return self.error
        return f"Python {self.version} lacks {', '.join(self.missing)}"


def clean_env(extra=None):
    """Environment for a backend subprocess: Blender's PYTHONHOME/PYTHONPATH must not leak in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    env.update(extra or {})
    return env


_PROBE_CODE = (
    "import importlib.util, json, platform, sys\n"
    "mods = json.loads(sys.argv[1])\n"
    "print(json.dumps({'version': platform.python_version(),"
    " 'missing': [m for m in mods if importlib.util.find_spec(m) is None]}))\n"
)


def probe(python):
    """Probe one interpreter (cached per file and modification time)."""
    try:
        key = (python, os.path.getmtime(python))
    except OSError:
        return Probe(python, False, error=f"{python} does not exist")
    if key not in _probe_cache:
        _probe_cache[key] = _run_probe(python)
    return _probe_cache[key]


def _run_probe(python):
    try:
        proc = subprocess.run([python, "-c", _PROBE_CODE, json.dumps(REQUIRED_PACKAGES)], capture_output=True,
                              text=True, timeout=20, env=clean_env(), cwd=ADDON_ROOT,
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
        version, missing = str(answer["version"]), tuple(answer["missing"])
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, IndexError):
        return Probe(python, False, error=f"{python} is not a working Python")
    return Probe(python, not missing, version=version, missing=missing)


def forget_probes():
    _probe_cache.clear()


def cached_probe(python):
    """The probe of ``python`` if one was made for its current file, else None (no subprocess)."""
    try:
        return _probe_cache.get((python, os.path.getmtime(python)))
    except OSError:
        return None


def venv_python(venv):
    if sys.platform == "win32":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def candidates(user_venv):
    """Interpreters worth probing, best first: the add-on's own complete venv, a development
    checkout's ``.venv``, then a Python 3.11 on PATH."""
    found = []
    if os.path.isfile(os.path.join(user_venv, COMPLETE_MARKER)):
        found.append(venv_python(user_venv))
    found.append(venv_python(os.path.join(ADDON_ROOT, ".venv")))
    on_path = shutil.which("python3.11")
    if on_path:
        found.append(on_path)
    return [c for c in dict.fromkeys(found) if os.path.isfile(c)]


def find_backend(chosen, user_venv, cached_only=False):
    """The Probe of the interpreter that will run the backend, or None when there is none.

    ``chosen`` (the preference) wins when set, even when its probe fails (the panel says why).
    With ``cached_only`` no subprocess runs: candidates not probed yet are skipped (for draw()).
    """
    look = cached_probe if cached_only else probe
    if chosen:
        return look(chosen)
    for python in candidates(user_venv):
        result = look(python)
        if result is not None and result.ok:
            return result
    return None


def base_python():
    """A Python 3.11 to create the backend venv with ('' when there is none)."""
    found = shutil.which("python3.11")
    if found:
        return found
    if sys.version_info[:2] == (3, 11) and os.path.basename(sys.executable).startswith("python"):
        return sys.executable  # Blender 4.2-4.5 bundle a Python 3.11
    return ""


def install_steps(base, venv, requirements, cuda=False):
    """(label, weight, argv) of every step of Create; weights add up to 1 (download-heavy steps
    weigh most). Reads the pins from ``requirements`` so the venv gets what the repository tests.
    Without ``cuda`` (no NVIDIA GPU) on Linux/Windows torch comes from PyTorch's CPU index."""
    with open(requirements, encoding="utf-8") as fh:
        pins = [line.split("#")[0].strip() for line in fh]
    pins = [p for p in pins if p and not p.startswith("-")]
    torch = [p for p in pins if _name(p) == "torch"]
    mediapipe = [p for p in pins if _name(p) == "mediapipe"]
    rest = [p for p in pins if _name(p) not in ("torch", "mediapipe")]
    python = venv_python(venv)
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    return [
        ("Creating the environment", 0.02, [base, "-m", "venv", venv]),
        ("Updating pip", 0.03, pip + ["--upgrade", "pip"]),
        # torch alone first, so its pinned build is what the next resolver sees
        ("Installing torch", 0.60, pip + torch + ([] if cuda or sys.platform == "darwin"
                                                  else ["--index-url", TORCH_CPU_INDEX])),
        ("Installing the other packages", 0.30, pip + rest + list(MEDIAPIPE_RUNTIME_DEPS)),
        ("Installing MediaPipe", 0.05, pip + ["--no-deps"] + mediapipe),
    ]


def _name(pin):
    for sep in "=<>!~[ ;":
        pin = pin.split(sep)[0]
    return pin.strip().lower()


def mark_complete(venv):
    with open(os.path.join(venv, COMPLETE_MARKER), "w", encoding="utf-8") as fh:
        fh.write("created by ScoreHMR Create Backend Environment\n")
    forget_probes()


def remove_partial(venv):
    """Delete a venv that Create did not finish (cancel or failure)."""
    if os.path.isdir(venv) and not os.path.isfile(os.path.join(venv, COMPLETE_MARKER)):
        shutil.rmtree(venv, ignore_errors=True)
    forget_probes()


def doctor_argv(python, body_model="", checkpoint=""):
    argv = [python, "-m", "backend", "doctor"]
    if body_model:
        argv += ["--body-model", body_model]
    if checkpoint:
        argv += ["--checkpoint", checkpoint]
    return argv


def read_doctor(stdout):
    """(lines for the report, problems) from doctor's JSON on stdout; no problems only when the
    packages, the chosen body model, the chosen checkpoint and MediaPipe all check out."""
    try:
        report = json.loads(stdout)
    except ValueError:
        return [], ["the backend did not print a report (see the backend log)"]
    if not isinstance(report, dict):
        return [], ["the backend's report is not a JSON object"]
    lines = [f"Python {report.get('python', '?')} on {report.get('device', '?')}"]
    problems = []
    for name, version in (report.get("versions") or {}).items():
        lines.append(f"  {name} {version or 'MISSING'}")
        if not version:
            problems.append(f"{name} is not installed")
    for key, label in (("body_model", "Body model"), ("checkpoint", "Checkpoint"), ("mediapipe_pose", "MediaPipe pose")):
        part = report.get(key)
        if part is None and key == "checkpoint":
            lines.append(f"{label}: none (the backend's default)")
            continue
        part = part if isinstance(part, dict) else {}
        where = f" {part['path']}" if part.get("path") else ""
        if part.get("ok"):
            lines.append(f"{label}: ok{where}")
        else:
            why = part.get("error") or ("file not found" if part.get("exists") is False else "missing")
            lines.append(f"{label}: {why}{where}")
            problems.append(f"{label.lower()}: {why}{where}")
    return lines, problems
