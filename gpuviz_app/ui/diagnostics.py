"""What a bug report needs to know: versions, platform, GL renderer, device and upload path.

Collected on demand (About, Copy diagnostics), never at start-up: torch is imported here only
when asked, so the window still appears before torch loads.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from typing import Any

from gpuviz_app import __version__

UNKNOWN = "unknown"


@dataclass
class Diagnostics:
    versions: dict[str, str] = field(default_factory=dict)
    os: str = UNKNOWN
    gl: dict[str, str] = field(default_factory=dict)
    qt_platform: str = UNKNOWN
    device: str = UNKNOWN
    cuda: str = UNKNOWN
    upload: str = UNKNOWN
    upload_reason: str = ""
    executable: str = ""

    @property
    def gl_renderer(self) -> str:
        return self.gl.get("renderer", UNKNOWN)

    @property
    def gl_version(self) -> str:
        return self.gl.get("version", UNKNOWN)

    def as_text(self) -> str:
        """Plain text, one fact per line, ready to paste into an issue."""
        lines = [f"gpuviz {self.versions.get('gpuviz', __version__)}"]
        lines += [f"{name}: {version}" for name, version in self.versions.items() if name != "gpuviz"]
        lines += [
            f"OS: {self.os}",
            f"Qt platform: {self.qt_platform}",
            f"OpenGL renderer: {self.gl_renderer}",
            f"OpenGL version: {self.gl_version}",
            f"OpenGL vendor: {self.gl.get('vendor', UNKNOWN)}",
            f"Training device: {self.device}",
            f"CUDA: {self.cuda}",
            f"Upload path: {self.upload} ({self.upload_reason})",
            f"Executable: {self.executable}",
        ]
        return "\n".join(lines) + "\n"


def library_versions() -> dict[str, str]:
    import numpy
    import PySide6
    import vispy
    from PySide6 import QtCore

    return {
        "gpuviz": __version__,
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "PyTorch": _torch_version(),
        "PySide6": f"{PySide6.__version__} (Qt {QtCore.qVersion()})",
        "VisPy": vispy.__version__,
        "NumPy": numpy.__version__,
    }


def _torch_version() -> str:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - a report must still be produced
        return f"not importable ({exc})"
    return torch.__version__


def cuda_summary() -> str:
    """Whether CUDA is usable by torch, and on what."""
    try:
        import torch

        if not torch.cuda.is_available():
            built = torch.version.cuda
            return f"not available (torch built {'with CUDA ' + built if built else 'without CUDA'})"
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return f"available, CUDA {torch.version.cuda}, {', '.join(names)}"
    except Exception as exc:  # noqa: BLE001
        return f"unknown ({exc})"


def os_summary() -> str:
    system = f"{platform.system()} {platform.release()} {platform.machine()}"
    try:
        release = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        release = None
    libc = " ".join(platform.libc_ver()).strip()
    return ", ".join(part for part in (release, system, libc) if part)


def canvas_gl_info(canvas: Any) -> dict[str, str]:
    """Renderer, version and vendor of a VisPy canvas's GL context, if it exists yet."""
    native = getattr(canvas, "native", None)
    is_valid = getattr(native, "isValid", None)
    if canvas is None or (is_valid is not None and not is_valid()):
        return {}
    try:
        from gpuviz_app.render.offscreen import gl_info

        canvas.set_current()
        return gl_info()
    except Exception:  # noqa: BLE001 - fall back to what VisPy recorded at the first draw
        try:
            version = canvas.context.shared.parser.capabilities.get("gl_version")
        except AttributeError:
            return {}
        return {"version": str(version)} if version and version != UNKNOWN else {}


def collect(snapshot: Any, device_choice: str, upload: Any, canvas: Any) -> Diagnostics:
    """Everything about a window's run that a bug report needs: its newest `snapshot` (None
    before training starts, then `device_choice` is shown), the views' `upload` path, and a
    VisPy `canvas` whose GL context is asked (None before any canvas exists)."""
    from PySide6 import QtGui

    device = snapshot.device_name if snapshot is not None else f"{device_choice} (training not started)"
    app = QtGui.QGuiApplication.instance()
    return Diagnostics(
        versions=library_versions(),
        os=os_summary(),
        gl=canvas_gl_info(canvas),
        qt_platform=app.platformName() if app is not None else UNKNOWN,
        device=device,
        cuda=cuda_summary(),
        upload=upload.name,
        upload_reason=upload.reason,
        executable=sys.executable if getattr(sys, "frozen", False) else f"{sys.executable} (Python)",
    )
