"""MP4 writing for the demo: rendered RGBA frames + an audio track -> H.264/AAC in an MP4.

PyAV (the `render` extra) bundles FFmpeg with libx264 and AAC, so no system ffmpeg is needed.
Frames are composited over an opaque background (MP4 has no alpha) and encoded as yuv420p, which
every player and browser plays.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

import numpy as np

from models.render.base import PIP_HINT, RendererError, RendererUnavailableError
from models.render.encode import composite

log = logging.getLogger(__name__)

AUDIO_RATE = 48000
AUDIO_FRAME = 1024  # AAC frame size in samples


def parse_color(text: str) -> tuple[int, int, int]:
    """'#RRGGBB' or 'RRGGBB' -> (r, g, b)."""
    value = text.strip().lstrip("#")
    if len(value) != 6:
        raise RendererError(f"a colour must be RRGGBB hex, got {text!r}")
    try:
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except ValueError:
        raise RendererError(f"a colour must be RRGGBB hex, got {text!r}") from None


class Mp4Writer:
    """Write an MP4: `write_frame(rgba)` per video frame, `write_audio(samples)` once or in parts.

    Args:
        path: output file (.mp4).
        width, height: frame size (even numbers: yuv420p halves the chroma).
        fps: video frame rate.
        background: colour behind transparent pixels.
        crf: x264 quality (lower is better; 18-23 is visually good).
        audio: whether an AAC track (mono, 48 kHz) is written.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: int,
        background: tuple[int, int, int] = (24, 26, 33),
        crf: int = 20,
        audio: bool = True,
    ) -> None:
        try:
            import av
        except ImportError as exc:
            raise RendererUnavailableError(f"writing MP4 needs PyAV: {PIP_HINT} ({exc})") from exc
        if width % 2 or height % 2:
            raise RendererError(f"MP4 frames need even sizes (yuv420p), got {width}x{height}")
        self._av = av
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.background = background
        self._container = av.open(str(self.path), mode="w")
        self._video = self._container.add_stream("libx264", rate=fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": "veryfast", "tune": "animation"}
        self._audio = self._container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if audio else None
        self._audio_pts = 0
        self._pending = np.zeros(0, np.float32)
        self.frames = 0

    def write_frame(self, image: np.ndarray) -> None:
        """(H, W, 4) uint8 RGBA (straight alpha) or (H, W, 3) RGB."""
        arr = np.asarray(image)
        if arr.shape[:2] != (self.height, self.width) or arr.dtype != np.uint8 or arr.shape[2] not in (3, 4):
            raise RendererError(
                f"frame must be ({self.height}, {self.width}, 3|4) uint8, got {arr.dtype} {arr.shape}"
            )
        rgb = composite(arr, self.background) if arr.shape[2] == 4 else arr
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Mono float samples in -1..1 at AUDIO_RATE (append as many times as needed)."""
        if self._audio is None:
            raise RendererError("this writer has no audio track")
        x = np.clip(np.asarray(samples, np.float32).reshape(-1), -1.0, 1.0)
        self._pending = np.concatenate([self._pending, x])
        self._flush_audio(final=False)

    def _flush_audio(self, final: bool) -> None:
        assert self._audio is not None
        while len(self._pending) >= AUDIO_FRAME or (final and len(self._pending)):
            chunk = self._pending[:AUDIO_FRAME]
            self._pending = self._pending[AUDIO_FRAME:]
            frame = self._av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._audio_pts
            self._audio_pts += len(chunk)
            for packet in self._audio.encode(frame):
                self._container.mux(packet)

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._video.encode(None):
            self._container.mux(packet)
        if self._audio is not None:
            self._flush_audio(final=True)
            for packet in self._audio.encode(None):
                self._container.mux(packet)
        self._container.close()
        self._container = None
        log.info("wrote %s: %d frames at %d fps", self.path, self.frames, self.fps)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_mp4(path: str | Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Decode an MP4 (for tests and checks): (frames (n, H, W, 3) uint8, audio (samples,) float32,
    video fps, audio rate)."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        fps = round(float(video.average_rate))
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.stack(frames), np.zeros(0, np.float32), fps, 0
        stream = container.streams.audio[0]
        rate = int(stream.rate)
        chunks = [f.to_ndarray().mean(axis=0).astype(np.float32) for f in container.decode(audio=0)]
    return np.stack(frames), np.concatenate(chunks) if chunks else np.zeros(0, np.float32), fps, rate


def read_video(path: str | Path, fps: float = 25.0, max_frames: int | None = None) -> np.ndarray:
    """Decode a video file at `fps` (each output frame k is the source frame shown at k / fps:
    frames are repeated or skipped by their timestamps) -> (n, H, W, 3) uint8 RGB. Any container
    and codec FFmpeg reads (MP4, WebM, MOV, ...)."""
    try:
        import av
    except ImportError as exc:
        raise RendererUnavailableError(f"reading video needs PyAV: {PIP_HINT} ({exc})") from exc
    try:
        container = av.open(str(path))
    except (OSError, av.error.FFmpegError) as exc:  # type: ignore[attr-defined]
        raise RendererError(f"cannot read video {path}: {exc}") from None
    out: list[np.ndarray] = []
    with container:
        if not container.streams.video:
            raise RendererError(f"{path} holds no video stream")
        last: np.ndarray | None = None
        for frame in container.decode(video=0):
            t = float(frame.time) if frame.time is not None else len(out) / fps
            image = frame.to_ndarray(format="rgb24")  # (H, W, 3)
            while last is not None and len(out) / fps < t - 0.5 / fps:  # repeat the previous frame
                out.append(last)
            if len(out) / fps <= t + 0.5 / fps:
                out.append(image)
            last = image
            if max_frames is not None and len(out) >= max_frames:
                break
    if not out:
        raise RendererError(f"{path} holds no frames")
    return np.stack(out[:max_frames] if max_frames is not None else out)
