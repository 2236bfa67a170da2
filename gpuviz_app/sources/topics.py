"""What a window says to the scripts it listens to: subscription topics that carry JSON.

A SUB socket has no way back to its publishers but its subscriptions, which the sender's XPUB
socket (`XPUB_VERBOSER`) reads as events: `b"\\x01" + topic` on subscribe, `b"\\x00" + topic` on
unsubscribe, and an unsubscribe of every topic when the window's connection ends. So a window
speaks by subscribing a topic made of a fixed prefix and a JSON object. A sender reads each one
with `read_topic`, which checks every field and refuses anything else with one sentence.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

MAX_TOPIC_BYTES = 4096
MAX_WINDOW_CHARS = 64


class TopicRefused(ValueError):
    """A topic that is not what a gpuviz window subscribes; the text says why."""


def check(ok: bool, reason: str) -> None:
    if not ok:
        raise TopicRefused(reason)


def make_topic(prefix: bytes, kind: str, **fields: Any) -> bytes:
    return prefix + json.dumps({"kind": kind, **fields}, separators=(",", ":")).encode()


def read_topic(prefix: bytes, topic: bytes, what: str, kinds: Mapping[str, Mapping[str, type]]) -> dict:
    """The fields of a `what` topic (`kinds`: each kind's fields and their types; every kind has
    a `window` name), or TopicRefused saying why it is not one."""
    check(topic.startswith(prefix), f"the subscription is not a gpuviz {what} topic")
    check(len(topic) <= MAX_TOPIC_BYTES, f"the {what} topic is too long")
    try:
        fields = json.loads(topic[len(prefix):].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TopicRefused(f"the {what} topic is not UTF-8 JSON") from None
    check(isinstance(fields, dict), f"the {what} topic is not a JSON object")
    expected = kinds.get(fields.get("kind")) if isinstance(fields.get("kind"), str) else None
    check(expected is not None, f"the {what} topic has an unknown kind")
    check(set(fields) == {"kind", *expected}, f"the {what} {fields['kind']} topic has the wrong fields")
    for key, kind in expected.items():
        value = fields[key]
        check(isinstance(value, kind) and not isinstance(value, bool), f"the {what} topic's {key} has the wrong type")
    check(len(fields["window"]) <= MAX_WINDOW_CHARS, f"the {what} topic's window name is too long")
    return fields
