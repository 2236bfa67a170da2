"""Every run the window shows is kept: each source it follows is recorded to the runs directory,
and the timeline reads the live run's recorded frames from there."""

from __future__ import annotations

from typing import Any

from gpuviz_app.sources.stored import ReplaySource
from gpuviz_app.store.recorder import LiveFrames, RunRecorder


class Recording:
    """A recorder per source shown (a stored run being replayed is not recorded again)."""

    def __init__(self) -> None:
        self._recorders: dict[int, tuple[Any, RunRecorder, LiveFrames]] = {}

    def frames_for(self, source: Any) -> LiveFrames | None:
        """The timeline's provider: the recorded frames of `source`'s runs, recording it from now on."""
        if isinstance(source, ReplaySource) or not hasattr(source, "mailbox"):
            return None
        known = self._recorders.get(id(source))
        if known is None or known[0] is not source:
            recorder = RunRecorder()
            recorder.follow(source.mailbox)
            known = self._recorders[id(source)] = (source, recorder, LiveFrames(recorder))
        return known[2]

    def run_dirs(self) -> list[str]:
        """The directories of the runs being recorded now."""
        return [d for _, recorder, _ in list(self._recorders.values()) if (d := recorder.run_dir) is not None]

    def close(self, timeout: float = 5.0) -> None:
        """Finish writing every run (at window close)."""
        recorders, self._recorders = self._recorders, {}
        for _, recorder, _ in recorders.values():
            recorder.close(timeout=timeout)


def install(window: Any) -> Recording:
    recording = Recording()
    window.timeline.provider = recording.frames_for
    return recording
