"""What gpuviz remembers between launches, in QSettings (an INI file under the user's config dir)."""

from __future__ import annotations

import json
from typing import Any

from PySide6 import QtCore


def settings() -> QtCore.QSettings:
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope,
                            "gpuviz", "gpuviz")


def load_json(key: str, default: Any) -> Any:
    """A JSON value; a missing, corrupt or wrongly-typed entry gives `default`."""
    raw = settings().value(key)
    if raw is None:
        return default
    try:
        value = json.loads(str(raw))
    except (TypeError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


def save_json(key: str, value: Any) -> None:
    settings().setValue(key, json.dumps(value))


def load_bytes(key: str) -> QtCore.QByteArray | None:
    raw = settings().value(key)
    return raw if isinstance(raw, QtCore.QByteArray) else None


def save_bytes(key: str, value: QtCore.QByteArray) -> None:
    settings().setValue(key, value)
