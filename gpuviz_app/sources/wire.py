"""The message a script in another process sends a gpuviz window: raw buffers and a JSON header.

A message is a multipart ZeroMQ message: the frame `MAGIC`, a UTF-8 JSON header, then one frame
per array. The header names the run (script, host, pid, run name), the step and its counters,
the metric rows since the last message, the latest scalars, and each probe payload as a tree of
plain values in which an array is `{"$a": i}` (frame i, described by the header's `arrays`
entry: dtype name and shape), written and read by `core.payload_tree` (classes rebuilt by name
from its `PAYLOAD_CLASSES`, fields checked against the class's annotations). Nothing in a message
is ever executed or unpickled: a malformed message raises one `ValueError` with a sentence
saying what is wrong.

Payloads are re-sent only when their version changed since the message before; a weights
payload may come as its histogram columns from column k on (`sources.column_delta`), the header's
`deltas` naming k and the version of the payload it extends. A large
array that is the same object as in an earlier message (the embedding's raw inputs) travels
as a reference `{"$r": key}`, sent in full again every `REF_REFRESH_S`. A receiver that does
not know a reference reads it as None. Torch-free: tensors are recognised by their methods.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from gpuviz_app.core.payload_tree import (DTYPES, MAX_NDIM, NOT_MINE, BadPayload, TreeEncoder, TreeReader,
                                          add_array, host_array, is_int, is_number)

MAGIC = b"gpuviz/1"
HEADER_LIMIT = 1 << 20  # bytes of JSON header at most
MAX_ARRAYS = 4096
REF_MIN_BYTES = 1 << 16  # arrays at least this large may travel as references
REF_REFRESH_S = 2.0  # a referenced array is sent in full again this often
SNAPSHOT_FIELDS = {  # header key -> the types it may have
    "step": (int,), "wall_time": (float, int), "steps_per_s": (float, int), "paused": (bool,),
    "finished": (bool,), "model": (str,), "device": (str,), "device_name": (str,), "error": (str,),
    "diverged_step": (int, type(None)), "diverged": (str,),
}
RUN_FIELDS = {"script": str, "host": str, "pid": int, "name": str, "started": (float, int), "run": int}


@dataclass(frozen=True)
class RunInfo:
    """Who sends: one `attach` in one process (`run` counts the attaches of that process)."""

    script: str
    host: str
    pid: int
    name: str
    started: float
    run: int = 1

    @property
    def key(self) -> tuple:
        return (self.host, self.pid, self.run, self.started)


@dataclass
class Message:
    """A decoded message. `parts` holds only the payloads sent in it (unchanged ones are absent,
    see `versions`); `rows[name]` = (ordinal of the first row, steps, values); `reset`: the rows
    are the sender's whole history and replace what the receiver holds."""

    run: RunInfo
    seq: int
    sent_time: float
    snapshot: dict[str, Any]
    latest: dict[str, float]
    versions: dict[str, int]
    parts: dict[str, Any]
    rows: dict[str, tuple[int, np.ndarray, np.ndarray]]
    reset: bool = False
    token: str = ""
    refs: dict[str, np.ndarray] = field(default_factory=dict)
    gpu_reason: str | None = None  # why payloads came as host bytes ('' : IPC); None: the sender did not say
    deltas: dict[str, tuple[int, int]] = field(default_factory=dict)  # part -> (first column, version it extends)


class BadMessage(BadPayload):
    """A message that is not what a gpuviz sender sends; the text says why, in one sentence."""


def _check(ok: bool, reason: str) -> None:
    if not ok:
        raise BadMessage(reason)


# -- encoding (the script's side) ---------------------------------------------------------------
class Encoder(TreeEncoder):
    """Turns a sender's state into multipart messages; remembers what it sent for references."""

    def __init__(self, token: str = "", gpu: Any = None) -> None:
        self.token = token
        self.gpu = gpu  # a `sources.cuda_ipc.IpcExporter`: large CUDA arrays cross as IPC handles
        self._gpu_entries: list[dict] = []
        self._seq = 0
        self._refs: dict[int, tuple[Any, int, str, float]] = {}  # id -> (object, version, key, sent)
        self._next_ref = 0

    def forget(self) -> None:
        """Send every referenced array in full next time (a new receiver joined)."""
        self._refs.clear()

    def encode(self, run: RunInfo, seq: int, snapshot: Mapping[str, Any], latest: Mapping[str, float],
               versions: Mapping[str, int], parts: Mapping[str, Any],
               rows: Mapping[str, tuple[int, Any, Any]], reset: bool = False,
               deltas: Mapping[str, tuple[int, int]] | None = None) -> list[bytes | memoryview]:
        arrays: list[np.ndarray] = []
        self._gpu_entries, self._seq = [], seq
        header = {
            "run": dataclasses.asdict(run), "seq": seq, "sent": time.time(), "token": self.token,
            "snapshot": {k: snapshot[k] for k in SNAPSHOT_FIELDS if k in snapshot},
            "latest": {str(k): float(v) for k, v in latest.items()},
            "versions": {str(k): int(v) for k, v in versions.items()},
            "parts": {name: self.value(payload, arrays, 0, name) for name, payload in parts.items()},
            "rows": {name: [int(base), self._array(np.asarray(s, np.int64), arrays),
                            self._array(np.asarray(v, np.float64), arrays)]
                     for name, (base, s, v) in rows.items()},
            "reset": bool(reset),
        }
        if deltas:
            header["deltas"] = {name: [int(k), int(base)] for name, (k, base) in deltas.items()}
        if self.gpu is not None:
            header["gpu"] = {"entries": self._gpu_entries, **self.gpu.header()}
        header["arrays"] = [[a.dtype.name, list(a.shape)] for a in arrays]
        text = json.dumps(header, separators=(",", ":")).encode()
        if len(text) > HEADER_LIMIT:
            raise ValueError(f"gpuviz message header of {len(text)} bytes is over the limit of {HEADER_LIMIT}")
        return [MAGIC, text, *(memoryview(a).cast("B") if a.size else b"" for a in arrays)]

    def _array(self, array: np.ndarray, arrays: list[np.ndarray]) -> dict:
        return add_array(array, arrays)

    def array_node(self, value: Any, arrays: list[np.ndarray], path: str) -> dict:
        sent, key = self._reference(value)
        if sent:
            return {"$r": key}
        entry = self._gpu_entry(value, arrays, path)
        node = {"$g": entry} if entry is not None else self._array(host_array(value), arrays)
        return node | {"k": key} if key is not None else node

    def _gpu_entry(self, value: Any, arrays: list[np.ndarray], path: str) -> int | None:
        """The index of the header's gpu entry for a CUDA tensor sent as an IPC handle, or None."""
        if self.gpu is None or not hasattr(value, "numel"):
            return None
        entry = self.gpu.export(path, value, self._seq, lambda a: self._array(a, arrays)["$a"])
        if entry is None:
            return None
        self._gpu_entries.append(entry)
        return len(self._gpu_entries) - 1

    def _reference(self, value: Any) -> tuple[bool, str | None]:
        """(True, key) when this large array was sent recently as the same, unchanged object;
        (False, key) to send it now under a key; (False, None) for an array sent plainly."""
        nbytes = value.nbytes if isinstance(value, np.ndarray) else value.numel() * value.element_size()
        if nbytes < REF_MIN_BYTES:
            return False, None
        version = getattr(value, "_version", 0)
        known = self._refs.get(id(value))
        now = time.monotonic()
        same = known is not None and known[0] is value and known[1] == version
        if same and now - known[3] < REF_REFRESH_S:
            return True, known[2]
        if same:
            key = known[2]
        else:
            self._next_ref += 1
            key = str(self._next_ref)
        self._refs[id(value)] = (value, version, key, now)
        if len(self._refs) > 64:  # objects no longer sent are let go
            for stale in sorted(self._refs, key=lambda i: self._refs[i][3])[:32]:
                del self._refs[stale]
        return False, key


# -- decoding (the window's side) ----------------------------------------------------------------
def decode(frames: Sequence[Any], refs: Callable[[RunInfo], Mapping[str, np.ndarray]] | None = None,
           gpu: Callable[[RunInfo], Any] | None = None) -> Message:
    """The message in `frames` (bytes-like), or `BadMessage` saying why it is not one.

    `refs(run)` gives the arrays this sender sent earlier by reference key; the arrays sent
    with a key in this message are in `Message.refs`, for the caller to keep. `gpu(run)` gives
    the `sources.cuda_ipc.IpcImporter` that reads arrays sent as CUDA IPC handles (without
    it they read as None)."""
    try:
        return _decode(frames, refs, gpu)
    except BadMessage:
        raise
    except BadPayload as exc:
        raise BadMessage(str(exc)) from None
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError, IndexError) as exc:
        raise BadMessage(f"the message is malformed ({type(exc).__name__})") from None


def _decode(frames: Sequence[Any], refs: Callable[[RunInfo], Mapping[str, np.ndarray]] | None,
            gpu: Callable[[RunInfo], Any] | None = None) -> Message:
    _check(len(frames) >= 2, "a gpuviz message has at least two parts")
    _check(memoryview(frames[0]).tobytes() == MAGIC, "the message does not start with the gpuviz marker")
    raw = memoryview(frames[1])
    _check(raw.nbytes <= HEADER_LIMIT, f"the header is longer than {HEADER_LIMIT} bytes")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadMessage("the header is not valid UTF-8 JSON") from None
    _check(isinstance(header, dict), "the header is not a JSON object")
    arrays = _arrays(header.get("arrays"), frames[2:])
    run = _run_info(header.get("run"))
    reader = _TreeReader(arrays, refs(run) if refs is not None else {})
    seq, sent = header.get("seq"), header.get("sent")
    _check(is_int(seq), "the header's seq is not an integer")
    gpu_reason = _gpu_section(header.get("gpu"), arrays, reader, gpu(run) if gpu is not None else None, seq)
    _check(is_number(sent), "the header's sent time is not a number")
    snapshot = header.get("snapshot")
    _check(isinstance(snapshot, dict), "the header has no snapshot object")
    for key, value in snapshot.items():
        kinds = SNAPSHOT_FIELDS.get(key)
        _check(kinds is not None, f"the snapshot has an unknown field {key!r}")
        _check(isinstance(value, kinds) and (bool not in kinds) == (not isinstance(value, bool)),
               f"the snapshot's {key} has the wrong type")
    latest = _mapping(header.get("latest"), "latest", is_number)
    versions = _mapping(header.get("versions"), "versions", is_int)
    parts_tree = header.get("parts")
    _check(isinstance(parts_tree, dict), "the header has no parts object")
    parts = {name: reader.value(tree, 0) for name, tree in parts_tree.items()}
    rows_tree = header.get("rows")
    _check(isinstance(rows_tree, dict), "the header has no rows object")
    rows = {}
    for name, entry in rows_tree.items():
        _check(isinstance(entry, list) and len(entry) == 3 and is_int(entry[0]) and entry[0] >= 0,
               f"the metric rows of {name!r} are not [ordinal, steps, values]")
        steps, values = reader.value(entry[1], 1), reader.value(entry[2], 1)
        _check(isinstance(steps, np.ndarray) and steps.dtype == np.int64 and steps.ndim == 1,
               f"the steps of {name!r} are not a 1-D int64 array")
        _check(isinstance(values, np.ndarray) and values.dtype == np.float64 and values.shape == steps.shape,
               f"the values of {name!r} are not float64 rows matching its steps")
        rows[name] = (int(entry[0]), steps, values)
    token = header.get("token", "")
    _check(isinstance(token, str), "the token is not a string")
    deltas = header.get("deltas", {})
    _check(isinstance(deltas, dict) and all(
        name in parts and isinstance(d, list) and len(d) == 2 and all(is_int(v) and v >= 0 for v in d)
        for name, d in deltas.items()), "the header's deltas is not an object of [first column, version] of parts")
    return Message(run=run, seq=int(seq), sent_time=float(sent), snapshot=snapshot, latest=latest,
                   versions=versions, parts=parts, rows=rows, reset=header.get("reset") is True,
                   token=token, refs=reader.new_refs, gpu_reason=gpu_reason,
                   deltas={name: (int(k), int(base)) for name, (k, base) in deltas.items()})


def _gpu_section(section: Any, arrays: list[np.ndarray], reader: "_TreeReader", importer: Any,
                 seq: int) -> str | None:
    """Check the header's gpu section (see `sources.cuda_ipc`); the reader reads its entries."""
    if section is None:
        return None
    from gpuviz_app.sources.cuda_ipc import IpcRefused, parse_entry

    _check(isinstance(section, dict) and set(section) == {"entries", "reason", "retired"},
           "the header's gpu section is not {entries, reason, retired}")
    _check(isinstance(section["reason"], str) and len(section["reason"]) <= 1000,
           "the gpu section's reason is not text")
    retired = section["retired"]
    _check(isinstance(retired, list) and len(retired) <= 64 and all(is_int(r) for r in retired),
           "the gpu section's retired is not a list of ring numbers")
    entries = section["entries"]
    _check(isinstance(entries, list) and len(entries) <= MAX_ARRAYS, "the gpu section's entries is not a list")
    try:
        reader.gpu_entries = [parse_entry(e, arrays) for e in entries]
    except IpcRefused as exc:
        raise BadMessage(str(exc)) from None
    reader.importer, reader.seq = importer, seq
    if importer is not None and retired:
        importer.retire(retired)
    return section["reason"]


def _mapping(value: Any, what: str, ok: Any) -> dict:
    _check(isinstance(value, dict) and all(ok(v) for v in value.values()),
           f"the header's {what} is not an object of numbers")
    return dict(value)


def _run_info(value: Any) -> RunInfo:
    _check(isinstance(value, dict) and set(value) == set(RUN_FIELDS), "the header's run is not a run description")
    for key, kinds in RUN_FIELDS.items():
        _check(isinstance(value[key], kinds) and not isinstance(value[key], bool),
               f"the run's {key} has the wrong type")
    _check(all(len(value[k]) <= 4096 for k in ("script", "host", "name")), "the run's names are too long")
    return RunInfo(**value)


def _arrays(specs: Any, frames: Sequence[Any]) -> list[np.ndarray]:
    _check(isinstance(specs, list) and len(specs) <= MAX_ARRAYS, "the header's arrays is not a list of specs")
    _check(len(specs) == len(frames), f"the header describes {len(specs)} arrays but {len(frames)} were sent")
    out = []
    for i, (spec, frame) in enumerate(zip(specs, frames)):
        _check(isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], list),
               f"array {i}'s spec is not [dtype, shape]")
        name, shape = spec
        _check(name in DTYPES, f"array {i} has a dtype that is not allowed ({name[:20]!r})")
        _check(len(shape) <= MAX_NDIM and all(is_int(d) and d >= 0 for d in shape),
               f"array {i}'s shape is not a list of at most {MAX_NDIM} sizes")
        dtype = np.dtype(name).newbyteorder("<")
        buffer = memoryview(frame).cast("B")
        _check(math.prod(shape) * dtype.itemsize == buffer.nbytes,
               f"array {i} of shape {shape[:MAX_NDIM]} and dtype {name} does not fit its {buffer.nbytes} bytes")
        out.append(np.frombuffer(buffer, dtype).reshape(tuple(shape)))
    return out


class _TreeReader(TreeReader):
    """The payload tree reader, with the wire's arrays by reference and CUDA IPC entries."""

    def __init__(self, arrays: list[np.ndarray], refs: Mapping[str, np.ndarray]) -> None:
        super().__init__(arrays)
        self.refs = refs
        self.gpu_entries: list = []
        self.importer: Any = None
        self.seq = 0

    def node(self, tree: dict, depth: int) -> Any:
        if "$g" in tree:
            i, key = tree["$g"], tree.get("k")
            _check(is_int(i) and 0 <= i < len(self.gpu_entries) and set(tree) <= {"$g", "k"},
                   "a payload names a gpu entry that was not sent")
            value = self.importer.read(self.gpu_entries[i], self.seq) if self.importer is not None else None
            if key is not None:
                _check(isinstance(key, str) and len(key) <= 64, "a payload's array key is not a short string")
                self.new_refs[key] = value
            return value
        if "$r" in tree:
            key = tree["$r"]
            _check(isinstance(key, str) and len(tree) == 1, "a payload's reference is not a string")
            return self.new_refs.get(key, self.refs.get(key))
        return NOT_MINE


def frames_bytes(frames: Iterable[Any]) -> int:
    return sum(memoryview(f).nbytes for f in frames)
