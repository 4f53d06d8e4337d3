"""The JSON-lines protocol between the add-on and ``python -m backend serve``.

One JSON object per line. The client writes requests on the backend's stdin; the backend
writes events on stdout (and nothing else: logs go to stderr or a log file).

Requests (client -> backend), each with a client-chosen string ``id``:
  {"type": "hello"}                                  -> {"type": "hello", "protocol": N, "missing_packages": [..], ...}
                                                        (+ an ``error`` event ``missing_packages`` when any are missing)
  {"type": "run", "id": .., "video": PATH, "out": PATH, "start": F|null, "end": F|null,
   "options": {"device": .., "body_model": .., "checkpoint": .., "focal": .., "overwrite": false,
               "foot_lock": "auto"|"always"|"never", "person": "main"|"all"|N, "max_gap": SECONDS,
               "hands": false, "height": METRES|null}}
  {"type": "refine", "id": .., "result": PATH, "out": PATH, "start": F, "end": F,
   "fixed": {"<frame>": [72 floats axis-angle], ...}, "contacts": "auto"|"force"|"free", "options": {...}}
   (contacts: on a result with a floor, the range's feet judged as usual, the lower foot
   planted on every frame, or no foot planted)
  {"type": "cancel", "id": ..}       cancel the job with that id
  {"type": "shutdown"}

Events (backend -> client), each naming the request ``id`` it belongs to:
  {"type": "progress", "id": .., "stage": "decode"|"detect"|"init"|"refine"|..., "done": n, "total": n}
  {"type": "heartbeat", "id": ..}    the job is alive (sent while a stage reports no progress)
  {"type": "result", "id": .., "path": PATH, "index": PATH}   ("index": only for person "all";
                                     the persons index format is in the README)
  {"type": "cancelled", "id": ..}
  {"type": "error", "id": ..|null, "code": CODE, "message": .., "hint": ..}
"""
import json

PROTOCOL_VERSION = 1

REQUEST_TYPES = ("hello", "run", "refine", "cancel", "shutdown")
FOOT_LOCK_MODES = ("auto", "always", "never")
CONTACT_MODES = ("auto", "force", "free")
EVENT_TYPES = ("hello", "progress", "heartbeat", "result", "cancelled", "error")

# Error codes, shared by events and by the CLI's exit status.
ERROR_EXIT_CODES = {
    "bad_request": 2,
    "unreadable_video": 3,
    "no_person": 4,
    "bad_device": 5,
    "bad_body_model": 6,
    "bad_checkpoint": 7,
    "out_of_memory": 8,
    "bad_result": 9,
    "cancelled": 10,
    "missing_packages": 11,   # the backend's Python lacks packages: a setup problem, not a bug
    "internal": 70,           # a bug: the only code whose hint asks for a report
}

# Codes the add-on's client raises itself (never sent by the backend).
CLIENT_ERROR_CODES = (
    "no_python",              # no backend interpreter is set up
    "backend_start",          # the interpreter cannot be started
    "backend_exited",         # the process ended while jobs were pending
    "backend_unresponsive",   # neither progress nor heartbeat for HEARTBEAT_TIMEOUT_S
    "protocol",               # backend and add-on speak different protocol versions
)

# While a job runs the backend sends {"type": "heartbeat", "id": ..} at least every
# HEARTBEAT_INTERVAL_S; the client gives up after HEARTBEAT_TIMEOUT_S without any event.
HEARTBEAT_INTERVAL_S = 2.0
HEARTBEAT_TIMEOUT_S = 30.0

# What the backend needs installed (import names); `hello` names the missing ones.
REQUIRED_PACKAGES = ("numpy", "torch", "smplx", "mediapipe", "cv2", "scipy")
SETUP_HINT = ("Preferences > Add-ons > ScoreHMR: Create Backend Environment, or in the backend's Python: "
              "pip install -r requirements.txt")


class BackendError(Exception):
    """The one error type of both sides: a protocol code, a message for the user, what to do.

    The backend raises it (CLI exit status or ``error`` event); the add-on's client rebuilds it from
    ``error`` events and raises it for its own failures (``CLIENT_ERROR_CODES``).
    """

    def __init__(self, code: str, message: str, hint: str = ""):
        if code not in ERROR_EXIT_CODES and code not in CLIENT_ERROR_CODES:
            raise ValueError(f"unknown backend error code {code!r}")
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint or ""

    @classmethod
    def from_event(cls, event: dict) -> "BackendError":
        """The error of an ``error`` event; a code this side does not know reads as ``internal``."""
        code = event.get("code")
        known = code in ERROR_EXIT_CODES or code in CLIENT_ERROR_CODES
        return cls(code if known else "internal", str(event.get("message", "backend error")),
                   str(event.get("hint", "") or ""))

    @property
    def exit_code(self) -> int:
        return ERROR_EXIT_CODES.get(self.code, ERROR_EXIT_CODES["internal"])

    def event(self, job_id=None) -> dict:
        return {"type": "error", "id": job_id, "code": self.code, "message": self.message, "hint": self.hint}

    def __str__(self):
        return f"{self.message} ({self.hint})" if self.hint else self.message


def encode(message: dict) -> str:
    """One protocol line (no embedded newlines, ends with '\\n')."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n"


def decode(line: str) -> dict:
    """Parse one line; raises ValueError with a readable reason for anything malformed."""
    try:
        message = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError("a message must be a JSON object with a string 'type'")
    return message
