"""Where a gpuviz window listens for scripts in other processes, and whether one does.

The default is a Unix socket private to the user: `ipc://$XDG_RUNTIME_DIR/gpuviz.sock`, or
`ipc://<temp dir>/gpuviz-<uid>/gpuviz.sock` in a folder only the user may enter; where
ZeroMQ has no `ipc` transport, a loopback TCP port. `GPUVIZ_ADDRESS` overrides it on both
sides, `GPUVIZ_TOKEN` gives the token a window on a network address asks for.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import tempfile
from pathlib import Path

ADDRESS_ENV = "GPUVIZ_ADDRESS"
TOKEN_ENV = "GPUVIZ_TOKEN"
LOOPBACK_PORT = 47831


class AddressError(ValueError):
    """An address gpuviz cannot listen on or send to; the text says why, in one sentence."""


def default_address() -> str:
    """`GPUVIZ_ADDRESS`, else this user's Unix socket, else a loopback TCP port."""
    given = os.environ.get(ADDRESS_ENV, "").strip()
    if given:
        return given
    import zmq

    if not zmq.has("ipc"):
        return f"tcp://127.0.0.1:{LOOPBACK_PORT}"
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and Path(runtime).is_dir() and os.access(runtime, os.W_OK):
        return f"ipc://{Path(runtime) / 'gpuviz.sock'}"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return f"ipc://{Path(tempfile.gettempdir()) / f'gpuviz-{uid}' / 'gpuviz.sock'}"


def check_address(address: str) -> str:
    """The address if gpuviz can use it (`ipc://PATH` or `tcp://HOST:PORT`), else AddressError."""
    if address.startswith("ipc://") and len(address) > len("ipc://"):
        return address
    if address.startswith("tcp://"):
        host, _, port = address[len("tcp://"):].rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return address
    raise AddressError(f"{address!r} is not an address gpuviz can use: give ipc://PATH or tcp://HOST:PORT")


def is_local(address: str) -> bool:
    """Whether only this machine can reach the address (a Unix socket or a loopback TCP port)."""
    if address.startswith("ipc://"):
        return True
    host = address[len("tcp://"):].rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ipc_path(address: str) -> Path | None:
    return Path(address[len("ipc://"):]) if address.startswith("ipc://") else None


def prepare_ipc_folder(address: str) -> None:
    """Make the socket's folder (only the user may enter a folder gpuviz makes), or AddressError."""
    path = ipc_path(address)
    if path is None:
        return
    folder = path.parent
    if not folder.exists():
        try:
            folder.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise AddressError(f"cannot make the folder {folder} for {address}: {exc.strerror}") from None
    elif folder.name.startswith("gpuviz-") and hasattr(os, "getuid"):
        info = folder.stat()
        if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
            raise AddressError(f"{folder} belongs to another user or others may enter it: set {ADDRESS_ENV}")


def listening(address: str, timeout: float = 0.5) -> bool:
    """Whether something accepts connections at the address (a window's socket, not a stale file)."""
    path = ipc_path(address)
    try:
        if path is not None:
            if not path.exists() or not hasattr(socket, "AF_UNIX"):
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(timeout)
                probe.connect(str(path))
            return True
        host, _, port = address[len("tcp://"):].rpartition(":")
        if host in ("*", "0.0.0.0"):
            host = "127.0.0.1"
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False
