"""What headless `record` and `run` share around their work: Ctrl+C and SIGTERM cancel
cleanly, the video encoder lives only as long as the work, and any failure becomes one line
and an exit status, with no unfinished file left under the user's names.
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Callable


class Cancelled(BaseException):
    """SIGTERM or SIGINT during the work: unwinds so partial files are removed."""


class Refused(Exception):
    """The work ended without output for a reason already printed; `status` is the exit status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _cancel_on_signal(signum: int, frame: Any) -> None:
    raise Cancelled()


def guarded_outputs(body: Callable[[Any], list[str]], out: str | None = None,
                    frame_size: tuple[int, int] = (0, 0), fps: float = 30.0,
                    force: bool = False) -> tuple[int, list[str]]:
    """Run `body(encoder)`, where `encoder` is a background video encoder for `out` (None
    without one), and return (exit status, files written). `body` returns the still files it
    wrote; the video comes first in the list once it is finished."""
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python then never
    # turns it into KeyboardInterrupt
    previous = {s: signal.signal(s, _cancel_on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    encoder = None
    try:
        if out:
            from gpuviz_app.export.video import BackgroundEncoder, VideoWriter

            encoder = BackgroundEncoder(VideoWriter(out, frame_size, fps, overwrite=force), max_frames=4)
        stills = body(encoder)
        video = [str(encoder.finish())] if encoder is not None else []
        encoder = None
        return 0, video + stills
    except Refused as exc:
        return exc.status, []
    except (KeyboardInterrupt, Cancelled):
        print("\ncancelled: unfinished files were removed", file=sys.stderr)
        return 130, []
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2, []
    finally:
        if encoder is not None:
            encoder.cancel()
        for number, handler in previous.items():
            signal.signal(number, handler)
