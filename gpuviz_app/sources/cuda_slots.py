"""The sender's side of same-host CUDA payloads (see `sources.cuda_ipc`): per payload array a
ring of device slots, each copied into on the GPU, its handles sent once, reused once the
window acknowledged it, and freed when the window goes.

Torch is imported only where a tensor is already at hand; tests give a fake allocator.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from gpuviz_app.sources.cuda_ipc import (
    DTYPES,
    MIN_BYTES,
    RING_SLOTS,
    TOPIC,
    IpcRefused,
    host_path_reason,
    machine_id,
    parse_topic,
)

log = logging.getLogger(__name__)


@dataclass
class Slot:
    """One device buffer of a ring; `device` is the buffer's own (allocator's) object."""

    index: int
    buffer: Any
    in_flight: int = 0  # the message seq that last used it, while not acknowledged; 0: free
    opened: bool = False  # the window was sent its handles


class SlotRing:
    """The slots of one payload array, all of one dtype and shape; `allocate(dtype, shape)`
    makes a buffer, `free(buffer)` lets it go (the sender passes torch's; tests a fake)."""

    def __init__(self, ring: int, dtype: str, shape: tuple, allocate: Callable[[str, tuple], Any],
                 free: Callable[[Any], None], slots: int = RING_SLOTS) -> None:
        self.ring, self.dtype, self.shape = ring, dtype, tuple(shape)
        self._allocate, self._free = allocate, free
        self.slots: list[Slot] = []
        self.size = slots

    def acquire(self, seq: int) -> Slot | None:
        """A free slot (made on first need, at most `size`), marked as used by message `seq`;
        None while every slot waits for the window."""
        for slot in self.slots:
            if not slot.in_flight:
                slot.in_flight = seq
                return slot
        if len(self.slots) >= self.size:
            return None
        slot = Slot(len(self.slots), self._allocate(self.dtype, self.shape), in_flight=seq)
        self.slots.append(slot)
        return slot

    def acknowledged(self, seq: int) -> None:
        """The window read every message up to `seq`: their slots are free again."""
        for slot in self.slots:
            if slot.in_flight and slot.in_flight <= seq:
                slot.in_flight = 0

    def lost(self, seq: int) -> None:
        """Message `seq` was never sent: its slots are free and their handles still unsent."""
        for slot in self.slots:
            if slot.in_flight == seq:
                slot.in_flight = 0
                slot.opened = False

    def forget_window(self) -> None:
        for slot in self.slots:
            slot.in_flight, slot.opened = 0, False

    def release(self) -> None:
        for slot in self.slots:
            self._free(slot.buffer)
        self.slots = []


@dataclass
class TorchBuffer:
    """A slot's tensor with its IPC handles (taken once) and its interprocess event."""

    tensor: Any
    event: Any
    handle: bytes
    size: int
    offset: int
    counter: bytes
    counter_offset: int
    device_uuid: str

    def write(self, value: Any) -> None:
        """Copy `value` in on its device's current stream (the stream that made it), then record
        the event the window waits on."""
        import torch

        with torch.cuda.device(self.tensor.device):
            self.tensor.copy_(value.detach(), non_blocking=True)
            self.event.record(torch.cuda.current_stream(self.tensor.device))

    def event_handle(self) -> bytes:
        return bytes(self.event.ipc_handle())


def torch_allocate(device: Any) -> Callable[[str, tuple], TorchBuffer]:
    def allocate(dtype: str, shape: tuple) -> TorchBuffer:
        import torch

        tensor = torch.empty(shape, dtype=getattr(torch, dtype), device=device)
        storage = tensor.untyped_storage()
        (_, handle, size, offset, counter, counter_offset, _, _) = storage._share_cuda_()
        with torch.cuda.device(tensor.device):
            event = torch.cuda.Event(interprocess=True)
            event.record(torch.cuda.current_stream(tensor.device))  # made on the slot's device
        uuid = str(torch.cuda.get_device_properties(tensor.device).uuid)
        return TorchBuffer(tensor, event, bytes(handle), int(size), int(offset), bytes(counter),
                           int(counter_offset), uuid)

    return allocate


def torch_free(buffer: TorchBuffer) -> None:
    """Give up torch's IPC count (the window never holds it), so the memory is freed now."""
    import torch

    try:
        torch.UntypedStorage._release_ipc_counter_cuda(buffer.counter, buffer.counter_offset)
    except Exception as exc:  # noqa: BLE001 - freeing must not stop the script
        log.debug("gpuviz: releasing an IPC count failed: %s", exc)
    buffer.tensor = None


@dataclass
class IpcExporter:
    """The sender's side: which window may take handles, the rings of slots, and why not."""

    address: str
    machine: str = field(default_factory=machine_id)
    sender: int = field(default_factory=os.getpid)
    min_bytes: int = MIN_BYTES
    allocate: Callable[[Any], Callable[[str, tuple], Any]] = torch_allocate
    free: Callable[[Any], None] = torch_free
    offer: dict | None = None
    refused: str = ""
    reason: str = "no payload has been large enough for CUDA IPC yet"
    enabled: bool = True  # off for a run's last message: the script may exit before it is read
    rings: dict[str, SlotRing] = field(default_factory=dict)
    retired: list[int] = field(default_factory=list)
    _next_ring: int = 0
    _logged: str = ""
    changed: bool = False  # the window's ability changed: payloads should be sent afresh

    # -- the window's subscriptions --------------------------------------------------------------
    def subscription(self, event: bytes) -> bool:
        """Take a (un)subscription event of the XPUB socket; True when it was an IPC topic."""
        subscribe, topic = event[:1] == b"\x01", bytes(event[1:])
        if not topic.startswith(TOPIC):
            return False
        try:
            fields = parse_topic(topic)
        except IpcRefused as exc:
            log.debug("gpuviz: ignored an IPC topic: %s", exc)
            return True
        kind = fields["kind"]
        if kind == "offer":
            if subscribe:
                if self.offer is None or self.offer["window"] != fields["window"]:
                    self.window_gone()
                self.offer, self.refused, self.changed = fields, "", True
            elif self.offer is not None and self.offer["window"] == fields["window"]:
                self.window_gone()
        elif self.offer is None or fields["window"] != self.offer["window"] or fields["sender"] != self.sender:
            pass  # another window's or another sender's
        elif kind == "ack" and subscribe:
            for ring in self.rings.values():
                ring.acknowledged(fields["seq"])
        elif kind == "refuse" and subscribe and not self.refused:
            self.refused = fields["reason"] or "no reason given"
            self.changed = True
            self._free_all()
        return True

    def window_gone(self) -> None:
        """The window that took handles left: every slot is freed."""
        if self.offer is not None:
            self.changed = True
        self.offer, self.refused = None, ""
        self._free_all()

    def close(self) -> None:
        self._free_all()
        self.offer = None

    def _free_all(self) -> None:
        for ring in self.rings.values():
            self.retired.append(ring.ring)
            ring.release()
        self.rings = {}
        try:
            if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
                sys.modules["torch"].cuda.ipc_collect()
        except Exception:  # noqa: BLE001 - freeing must not stop the script
            pass

    # -- messages ---------------------------------------------------------------------------------
    def why_not(self, value: Any) -> str:
        """'' when `value` crosses as a handle, else the reason (also logged once)."""
        device = str(getattr(value, "device", "cpu"))
        reason = "" if self.enabled else "the run's last message"
        reason = reason or host_path_reason(self.offer, self.refused, self.machine, self.address, device)
        if reason and reason != "the run's last message":
            self.reason = reason
            if reason != self._logged:
                self._logged = reason
                log.info("gpuviz: payloads travel as host bytes: %s", reason)
        elif not reason:
            self.reason = ""
        return reason

    def export(self, path: str, value: Any, seq: int, add_array: Callable[[np.ndarray], int]) -> dict | None:
        """The header entry for `value` copied into a free slot (handles as frames via
        `add_array` when the window has not seen the slot), or None for the host path."""
        nbytes = value.numel() * value.element_size()
        if nbytes < self.min_bytes or self.why_not(value):
            return None
        dtype = str(value.dtype).replace("torch.", "")
        if dtype not in DTYPES:
            return None
        shape = tuple(int(d) for d in value.shape)
        ring = self.rings.get(path)
        if ring is not None and (ring.dtype, ring.shape) != (dtype, shape):
            self.retired.append(ring.ring)
            ring.release()
            ring = None
        if ring is None:
            self._next_ring += 1
            ring = self.rings[path] = SlotRing(self._next_ring, dtype, shape, self.allocate(value.device), self.free)
        slot = ring.acquire(seq)
        if slot is None:
            return None  # the window is behind: host bytes this time
        buffer = slot.buffer
        buffer.write(value)
        entry = {"ring": ring.ring, "slot": slot.index, "dtype": dtype, "shape": list(shape),
                 "device": buffer.device_uuid}
        if not slot.opened:
            slot.opened = True
            entry["open"] = {"handle": add_array(np.frombuffer(buffer.handle, np.uint8)), "size": buffer.size,
                             "offset": buffer.offset,
                             "event": add_array(np.frombuffer(buffer.event_handle(), np.uint8))}
        return entry

    def in_flight(self) -> bool:
        """Whether the window may still be reading a slot."""
        return self.offer is not None and any(s.in_flight for r in self.rings.values() for s in r.slots)

    def sent(self, seq: int, ok: bool) -> None:
        """After the send of message `seq`: a message not sent frees its slots."""
        if not ok:
            for ring in self.rings.values():
                ring.lost(seq)

    def header(self) -> dict:
        """What the message's header says of IPC: the reason for the host path, rings retired."""
        out = {"reason": self.reason, "retired": self.retired[-64:]}
        self.retired = []
        return out
