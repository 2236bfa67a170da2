"""Which probes the windows show, said by each window to its senders (see `sources.topics`).

A window subscribes `views_topic(window, probes)`: its random name and the probes of the views
on its screen. When that changes it subscribes the new topic, then unsubscribes the old one.
The sender's `WindowViews` keeps each window's newest topic and answers `shown`: the union over
the windows that said, or every probe while some subscribed window has said nothing (a window
from before this topic existed, or one whose topic was refused), so such a window loses nothing.
"""

from __future__ import annotations

import logging
from typing import Iterable

from gpuviz_app.core.probes import PROBES
from gpuviz_app.sources.topics import TopicRefused, check, make_topic, read_topic

log = logging.getLogger(__name__)

VIEWS_TOPIC = b"gpuviz-views/1 "
VIEWS_FIELDS = {"views": {"window": str, "probes": list}}


def views_topic(window: str, probes: Iterable[str]) -> bytes:
    """The topic a window subscribes to say it shows `probes` (names outside `PROBES` left out)."""
    return make_topic(VIEWS_TOPIC, "views", window=window, probes=sorted(set(probes) & PROBES.keys()))


def parse_views_topic(topic: bytes) -> tuple[str, frozenset[str]]:
    """The window and its probes, or TopicRefused saying why the topic is not a views topic."""
    fields = read_topic(VIEWS_TOPIC, topic, "views", VIEWS_FIELDS)
    probes = fields["probes"]
    check(len(probes) <= len(PROBES), "the views topic names more probes than there are")
    check(all(isinstance(name, str) and name in PROBES for name in probes),
          f"the views topic names a probe that is not one of {', '.join(sorted(PROBES))}")
    check(len(set(probes)) == len(probes), "the views topic names a probe twice")
    return fields["window"], frozenset(probes)


class WindowViews:
    """A sender's record of what each window shows, kept from subscription events."""

    def __init__(self) -> None:
        self.views: dict[str, frozenset[str]] = {}  # window -> the probes it shows
        self._topics: dict[str, bytes] = {}  # window -> the topic that said so

    def subscription(self, event: bytes) -> bool:
        """Take an XPUB (un)subscription event; True when it was a views topic (read or refused)."""
        subscribe, topic = event[:1] == b"\x01", bytes(event[1:])
        if not topic.startswith(VIEWS_TOPIC):
            return False
        try:
            window, probes = parse_views_topic(topic)
        except TopicRefused as exc:
            if subscribe:
                log.warning("gpuviz: ignored a window's views topic: %s", exc)
            return True
        if subscribe:
            self.views[window], self._topics[window] = probes, topic
        elif self._topics.get(window) == topic:  # not the older topic of a window that said anew
            del self.views[window], self._topics[window]
        return True

    def shown(self, windows: int, probes: frozenset[str]) -> frozenset[str]:
        """Which of `probes` to compute for `windows` subscribed windows."""
        if not windows:
            return frozenset()
        if windows > len(self.views):
            return probes  # a window that said nothing gets every probe
        return probes & frozenset().union(*self.views.values())
