"""Video files through PyAV (FFmpeg): MP4 (H.264), WebM (VP9) and GIF, written atomically.

Frame sizes: H.264 and VP9 store yuv420p, which needs even dimensions, so an odd width
or height is padded by one pixel (with the frame's background, its top-left colour) to
the next even number; GIF keeps the exact size. A frame of another size than the video's
(a panel resized while recording) is cropped, or padded the same way, at its bottom and
right edges. GIF frames get their own 256-colour palette each (Pillow's fast octree,
no dithering), so flat plot colours stay exact.

`BackgroundEncoder` runs a writer on its own thread behind a bounded queue: the render
loop offers frames without waiting and learns when the encoder falls behind.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from gpuviz_app.export.atomic import AtomicFile, name_write_error


@dataclass(frozen=True)
class VideoFormat:
    container: str
    codec: str
    pix_fmt: str
    even: bool
    options: dict[str, str] = field(default_factory=dict)


# One encoder thread each: the machine's cores belong to training, and CPU time spent on
# one thread is what the recorder's budget can measure.
FORMATS: dict[str, VideoFormat] = {
    ".mp4": VideoFormat("mp4", "libx264", "yuv420p", True,
                        {"preset": "ultrafast", "crf": "20", "threads": "1"}),
    ".webm": VideoFormat("webm", "libvpx-vp9", "yuv420p", True,
                         {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0",
                          "threads": "1", "row-mt": "0"}),
    ".gif": VideoFormat("gif", "gif", "pal8", False),
}


class VideoFormatError(ValueError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: unsupported video type {path.suffix or '(none)'!r}; use .mp4, .webm or .gif")
        self.path = path


def video_format(path: str | os.PathLike) -> VideoFormat:
    path = Path(path)
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise VideoFormatError(path) from None


def encoded_size(size: tuple[int, int], path: str | os.PathLike) -> tuple[int, int]:
    """The frame size a video of `size` (w, h) gets in this container (even for yuv420p)."""
    w, h = size
    if video_format(path).even:
        return w + w % 2, h + h % 2
    return w, h


def fit_frame(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`pixels` (h, w, C) cropped or padded at the bottom/right to `size` (w, h)."""
    w, h = size
    pixels = pixels[:h, :w]
    ph, pw = h - pixels.shape[0], w - pixels.shape[1]
    if ph or pw:
        out = np.empty((h, w, pixels.shape[2]), np.uint8)
        out[...] = pixels[0, 0]
        out[: pixels.shape[0], : pixels.shape[1]] = pixels
        return out
    return np.ascontiguousarray(pixels)


def _pal8(rgb: np.ndarray):
    """An (indices, ARGB palette) pair for a GIF frame, with a palette of its own."""
    from PIL import Image

    image = Image.fromarray(rgb, "RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                                 dither=Image.Dither.NONE)
    rgb_palette = np.frombuffer(bytes(image.getpalette()[: 256 * 3]), np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), np.uint8)
    palette[:, 0] = 255
    palette[: len(rgb_palette), 1:] = rgb_palette
    return np.asarray(image), palette


class VideoWriter:
    """Encodes frames into `path` (type from its suffix); the file appears on `close()`.

    Frames are RGB or RGBA uint8 arrays (h, w, C). `pts` counts in 1/fps units and may
    jump (a held frame shows until the next one); by default frames follow each other.
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float = 30.0,
                 overwrite: bool = False) -> None:
        import av

        self.path = Path(path)
        self.format = video_format(self.path)
        if fps <= 0:
            raise ValueError(f"fps must be positive, not {fps}")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.size = encoded_size(size, self.path)
        self.frames = 0
        self._next_pts = 0
        self._file = AtomicFile(self.path, overwrite)
        try:
            self._container = av.open(str(self._file.tmp), "w", format=self.format.container)
            stream = self._container.add_stream(self.format.codec, rate=self.fps)
            stream.width, stream.height = self.size
            stream.pix_fmt = self.format.pix_fmt
            self._time_base = 1 / self.fps  # the muxer may change the stream's own time base
            stream.time_base = self._time_base
            stream.options = dict(self.format.options)
            self._stream = stream
        except OSError as exc:
            self._file.discard()
            raise name_write_error(self.path, exc) from exc
        except BaseException:
            self._file.discard()
            raise

    def write(self, pixels: np.ndarray, pts: int | None = None) -> None:
        import av

        pts = self._next_pts if pts is None else int(pts)
        if pts < self._next_pts:
            raise ValueError(f"frame pts {pts} goes back in time (next is {self._next_pts})")
        frame_pixels = fit_frame(pixels, self.size)
        if self.format.pix_fmt == "pal8":
            frame = av.VideoFrame.from_ndarray(_pal8(np.ascontiguousarray(frame_pixels[..., :3])), format="pal8")
        else:
            fmt = "rgba" if frame_pixels.shape[2] == 4 else "rgb24"
            frame = av.VideoFrame.from_ndarray(frame_pixels, format=fmt)
        frame.pts = pts
        frame.time_base = self._time_base
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except OSError as exc:
            raise name_write_error(self.path, exc) from exc
        self._next_pts = pts + 1
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder, finish the container, and move the file to its name."""
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        except OSError as exc:
            self.abort()
            raise name_write_error(self.path, exc) from exc
        except BaseException:
            self.abort()
            raise
        return self._file.commit()

    def abort(self) -> None:
        """Stop without a file: nothing appears under the final name."""
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away
            pass
        self._file.discard()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


_DONE = object()


class BackgroundEncoder:
    """Runs a VideoWriter on its own thread behind a queue of at most `max_frames` frames.

    `offer` never waits (False: the queue is full, the encoder is behind); `put` waits
    (headless recording, where nothing else needs the time). `finish` waits for the
    queue to drain and returns the finished file; `cancel` drops what is queued and
    leaves no file.
    """

    def __init__(self, writer: VideoWriter, max_frames: int = 6) -> None:
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(max(1, max_frames))
        self._cancelled = False
        self.error: BaseException | None = None
        self.cpu_s = 0.0
        self.encoded = 0
        self._result: Path | None = None
        self._thread = threading.Thread(target=self._run, name="gpuviz-encoder", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def full(self) -> bool:
        return self._queue.full()

    def offer(self, pixels: np.ndarray, pts: int | None = None) -> bool:
        if self.error is not None:
            return False
        try:
            self._queue.put_nowait((pixels, pts))
        except queue.Full:
            return False
        return True

    def put(self, pixels: np.ndarray, pts: int | None = None) -> None:
        self._raise_error()
        self._queue.put((pixels, pts))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                break
            if self._cancelled or self.error is not None:
                continue  # keep draining so that no producer waits forever
            start = time.thread_time()
            try:
                self.writer.write(*item)
                self.encoded += 1
            except Exception as exc:  # noqa: BLE001 - reported by finish()/error
                self.error = exc
            self.cpu_s += time.thread_time() - start
        start = time.thread_time()
        if self._cancelled or self.error is not None:
            self.writer.abort()
        else:
            try:
                self._result = self.writer.close()
            except Exception as exc:  # noqa: BLE001
                self.error = exc
        self.cpu_s += time.thread_time() - start

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def finish(self) -> Path:
        """Encode what is queued, finish the file and return its path."""
        self._stop()
        self._raise_error()
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        self._cancelled = True
        while True:  # make room for the stop marker at once
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._stop()
