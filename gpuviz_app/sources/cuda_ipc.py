"""Same host, CUDA: large payload arrays cross to the window as CUDA IPC handles, not host bytes.

Only plain values travel, never pickle. The window offers IPC by subscribing to a topic on its
SUB socket (ZeroMQ hands subscriptions to the sender's XPUB socket): `offer_topic` names the
window and its machine. The sender (`sources.cuda_slots`) keeps, per payload array, a small
ring of device slots: each frame the array is copied device-to-device into a free slot and the slot's
interprocess event is recorded; the header's `gpu` entry names ring, slot, dtype, shape and
device, and carries the memory and event handles (as byte frames) only the first time the window
sees that slot. The window rebuilds each slot once (`torch.UntypedStorage._new_shared_cuda`),
waits on the event, copies the slot into its own tensor and acknowledges the message by
subscribing `ack_topic`; the sender reuses a slot only once the message that used it was
acknowledged, and frees every slot when the window unsubscribes (it closed or died) or the
script closes. The window takes no part in torch's IPC reference count: the sender alone frees.

Where IPC cannot work the array travels as host bytes, and `host_path_reason` says why in one
sentence (logged once by the sender, and carried in the header for the window to show). A
window that fails to open a handle says why with `refusal_topic`. Torch is imported only where
a tensor is already at hand.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpuviz_app.core.host_system import is_wsl
from gpuviz_app.sources.topics import TopicRefused, make_topic, read_topic

TOPIC = b"gpuviz-ipc/1 "
MIN_BYTES = 1 << 16  # arrays at least this large cross as handles
RING_SLOTS = 3  # device slots per array: one being written while the window reads others
MAX_HANDLE_BYTES = 1 << 16
IPC_ENV = "GPUVIZ_IPC"  # "off": always the host path
DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64")
ENTRY_FIELDS = {"ring", "slot", "dtype", "shape", "device", "open"}
OPEN_FIELDS = {"handle", "size", "offset", "event"}


class IpcRefused(TopicRefused):
    """A gpu entry or topic that is not what a gpuviz peer sends; the text says why."""


def _check(ok: bool, reason: str) -> None:
    if not ok:
        raise IpcRefused(reason)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# -- where this process runs ----------------------------------------------------------------------
def machine_id() -> str:
    """This machine (host name and kernel boot): two processes with the same id share GPUs."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def platform_reason() -> str:
    """Why this process cannot take part in CUDA IPC at all, or ''."""
    if os.environ.get(IPC_ENV, "").strip().lower() in ("0", "off", "no", "false"):
        return f"CUDA IPC is turned off ({IPC_ENV}=off)"
    if sys.platform != "linux":
        return f"CUDA IPC needs Linux (this is {sys.platform})"
    if is_wsl():
        return "CUDA IPC is not supported under WSL"
    return ""


# -- topics: what the window says to its senders (see sources.topics) ---------------------------
def offer_topic(window: str, machine: str) -> bytes:
    return make_topic(TOPIC, "offer", window=window, machine=machine)


def refusal_topic(window: str, sender: int, reason: str) -> bytes:
    return make_topic(TOPIC, "refuse", window=window, sender=sender, reason=reason[:500])


def ack_topic(window: str, sender: int, seq: int) -> bytes:
    return make_topic(TOPIC, "ack", window=window, sender=sender, seq=seq)


TOPIC_FIELDS = {"offer": {"window": str, "machine": str}, "refuse": {"window": str, "sender": int, "reason": str},
                "ack": {"window": str, "sender": int, "seq": int}}


def parse_topic(topic: bytes) -> dict:
    """The fields of a window's IPC topic, or IpcRefused saying why it is not one."""
    try:
        return read_topic(TOPIC, topic, "IPC", TOPIC_FIELDS)
    except TopicRefused as exc:
        raise IpcRefused(str(exc)) from None


def host_path_reason(offer: dict | None, refused: str, machine: str, address: str, device: str) -> str:
    """Why a tensor on `device` travels as host bytes to the window that made `offer`, or ''."""
    if not device.startswith("cuda"):
        return "the tensors are on the CPU"
    if platform_reason():
        return platform_reason()
    if not address.startswith("ipc://"):
        return "the window listens on a TCP address (CUDA IPC is offered on a Unix socket only)"
    if offer is None:
        return "the window did not offer CUDA IPC"
    if offer["machine"] != machine:
        return "the window runs on another machine"
    if refused:
        return f"the window cannot open CUDA IPC handles: {refused}"
    return ""


# -- the window's side ----------------------------------------------------------------------------
@dataclass(frozen=True)
class GpuEntry:
    ring: int
    slot: int
    dtype: str
    shape: tuple
    device: str
    handle: bytes | None = None
    size: int = 0
    offset: int = 0
    event: bytes | None = None


def parse_entry(entry: Any, arrays: list) -> GpuEntry:
    """A header's gpu entry, every field checked, or IpcRefused saying what is wrong."""
    _check(isinstance(entry, dict) and set(entry) <= ENTRY_FIELDS and ENTRY_FIELDS - {"open"} <= set(entry),
           "a gpu entry does not have the fields ring, slot, dtype, shape, device")
    _check(_is_int(entry["ring"]) and entry["ring"] > 0, "a gpu entry's ring is not a positive integer")
    _check(_is_int(entry["slot"]) and 0 <= entry["slot"] < 64, "a gpu entry's slot is not a small integer")
    _check(isinstance(entry["dtype"], str) and entry["dtype"] in DTYPES, "a gpu entry's dtype is not allowed")
    shape = entry["shape"]
    _check(isinstance(shape, list) and len(shape) <= 8 and all(_is_int(d) and 0 <= d < 1 << 40 for d in shape),
           "a gpu entry's shape is not a list of at most 8 sizes")
    _check(isinstance(entry["device"], str) and 0 < len(entry["device"]) <= 64,
           "a gpu entry's device is not a GPU's id")
    fields = {"ring": entry["ring"], "slot": entry["slot"], "dtype": entry["dtype"], "shape": tuple(shape),
              "device": entry["device"]}
    if "open" not in entry:
        return GpuEntry(**fields)
    opened = entry["open"]
    _check(isinstance(opened, dict) and set(opened) == OPEN_FIELDS,
           "a gpu entry's open is not {handle, size, offset, event}")
    handle, event = opened["handle"], opened["event"]
    for name, i in (("handle", handle), ("event", event)):
        _check(_is_int(i) and 0 <= i < len(arrays), f"a gpu entry's {name} names a frame that was not sent")
        _check(arrays[i].dtype == np.uint8 and arrays[i].ndim == 1 and 0 < arrays[i].size <= MAX_HANDLE_BYTES,
               f"a gpu entry's {name} is not a byte frame of at most {MAX_HANDLE_BYTES} bytes")
    _check(arrays[event].size == 64, "a gpu entry's event handle is not 64 bytes")
    itemsize = 2 if entry["dtype"] == "bfloat16" else np.dtype(entry["dtype"]).itemsize
    nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize
    _check(_is_int(opened["size"]) and opened["size"] == nbytes,
           "a gpu entry's size does not match its dtype and shape")
    _check(_is_int(opened["offset"]) and 0 <= opened["offset"] < 1 << 48, "a gpu entry's offset is not a byte offset")
    return GpuEntry(**fields, handle=arrays[handle].tobytes(), size=opened["size"], offset=opened["offset"],
                    event=arrays[event].tobytes())


# A shared-memory name nobody makes: the window holds no share of torch's count (see module doc);
# torch's best-effort release at a rebuilt storage's end finds nothing to decrement.
NO_COUNTER = f"/gpuviz-no-ipc-count-{os.getpid()}-{secrets.token_hex(8)}".encode()


class IpcImporter:
    """The window's side for one sender: its slots rebuilt once, each read copied out at once.

    `read` returns a window-owned CUDA tensor (None when the handle cannot be opened, with
    `refused` saying why); `ack` is the newest message read, to acknowledge."""

    def __init__(self) -> None:
        self.slots: dict[tuple[int, int], tuple[Any, Any]] = {}  # (ring, slot) -> (tensor, event)
        self.refused = ""
        self.device = ""  # "cuda:i" once a handle was opened
        self.ack = 0
        self._stream = None

    def read(self, entry: GpuEntry, seq: int) -> Any:
        if self.refused:
            return None
        try:
            return self._read(entry, seq)
        except IpcRefused as exc:
            self.refused = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure: the sender uses the host path
            self.refused = f"opening the handle failed ({type(exc).__name__}: {str(exc)[:200]})"
        self.close()
        return None

    def _read(self, entry: GpuEntry, seq: int) -> Any:
        import torch

        _check(torch.cuda.is_available(), "the window has no CUDA device")
        key = (entry.ring, entry.slot)
        known = self.slots.get(key)
        if entry.handle is not None:
            known = self.slots[key] = self._open(entry)
        _check(known is not None, "a gpu entry names a slot whose handle was not sent")
        tensor, event = known
        _check(tensor.dtype == getattr(torch, entry.dtype) and tuple(tensor.shape) == entry.shape,
               "a gpu entry does not match the slot it names")
        if self._stream is None or self._stream.device != tensor.device:
            self._stream = torch.cuda.Stream(tensor.device)
        with torch.cuda.stream(self._stream):
            self._stream.wait_event(event)
            copy = tensor.clone()
        self._stream.synchronize()  # the slot is free for the sender once this message is acknowledged
        self.ack = max(self.ack, seq)
        return copy

    def _open(self, entry: GpuEntry) -> tuple[Any, Any]:
        import torch

        index = _device_index(entry.device)
        _check(index is not None, f"the window cannot see the GPU the tensors are on ({entry.device[:40]})")
        with torch.cuda.device(index):
            storage = torch.UntypedStorage._new_shared_cuda(index, entry.handle, entry.size, entry.offset,
                                                            NO_COUNTER, 0, b"\0" * 64, False)
            event = torch.cuda.Event.from_ipc_handle(index, entry.event)
        tensor = torch.empty(0, dtype=getattr(torch, entry.dtype), device=f"cuda:{index}")
        tensor.set_(storage, 0, entry.shape)
        self.device = f"cuda:{index}"
        return tensor, event

    def retire(self, rings: list) -> None:
        """The sender freed these rings: their slots are let go."""
        for key in [k for k in self.slots if k[0] in set(rings)]:
            del self.slots[key]

    def close(self) -> None:
        self.slots = {}


def _device_index(uuid: str) -> int | None:
    import torch

    for i in range(torch.cuda.device_count()):
        if str(torch.cuda.get_device_properties(i).uuid) == uuid:
            return i
    return None
