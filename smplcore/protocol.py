"""The JSON-lines protocol between the add-on and ``python -m backend serve``.

One JSON object per line. The client writes requests on the backend's stdin; the backend
writes events on stdout (and nothing else: logs go to stderr or a log file).

Requests (client -> backend), each with a client-chosen string ``id``:
  {"type": "hello"}                                  -> {"type": "hello", "protocol": N, ...}
  {"type": "run", "id": .., "video": PATH, "out": PATH, "start": F|null, "end": F|null,
   "options": {"device": .., "body_model": .., "checkpoint": .., "focal": .., "overwrite": false}}
  {"type": "refine", "id": .., "result": PATH, "out": PATH, "start": F, "end": F,
   "fixed": {"<frame>": [72 floats axis-angle], ...}, "options": {...}}
  {"type": "cancel", "id": ..}       cancel the job with that id
  {"type": "shutdown"}

Events (backend -> client), each naming the request ``id`` it belongs to:
  {"type": "progress", "id": .., "stage": "decode"|"detect"|"init"|"refine"|..., "done": n, "total": n}
  {"type": "result", "id": .., "path": PATH}
  {"type": "cancelled", "id": ..}
  {"type": "error", "id": ..|null, "code": CODE, "message": .., "hint": ..}
"""
import json

PROTOCOL_VERSION = 1

REQUEST_TYPES = ("hello", "run", "refine", "cancel", "shutdown")
EVENT_TYPES = ("hello", "progress", "result", "cancelled", "error")

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
    "internal": 70,
}


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
