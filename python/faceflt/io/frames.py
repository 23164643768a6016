"""Frames in, one at a time: a video (decoded as it is read, through PyAV's bundled FFmpeg: H.264,
HEVC, MPEG-4 Part 2, VP9...), a single image, or a folder of images in name order. RGB uint8 (H, W, 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif"}
DEFAULT_FPS = 30.0
"""The frame rate of frames that do not say theirs (a folder of images)."""


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3). Raises InputError if it is missing or not an image."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    data = path.read_bytes()
    # A truncated JPEG or PNG decodes partly (libjpeg fills the rest with grey and only warns): refuse it
    # with a reason instead of looking for a face in half a picture.
    if (data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:]) or (data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-64:]):
        raise InputError(f"{path}: the image file is damaged (truncated); use a complete copy of the picture")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise InputError(f"{path}: not a readable image (supported: {', '.join(sorted(IMAGE_SUFFIXES))})")
    return np.ascontiguousarray(image[..., ::-1])


@dataclass
class FrameSource:
    """Frames of a video, an image or a folder: iterate for (index, RGB frame)."""

    path: Path
    kind: str             # "video", "image" or "folder"
    width: int
    height: int
    fps: float
    frame_count: int | None
    """As the container declares it, or as its duration and frame rate imply (``counted`` False); None: not known."""
    lost: int = 0
    """After iterating a video: frames that could not be decoded (their indices are skipped)."""
    missing_at_end: int = 0
    """After iterating a video: frames the container declares beyond the last one decoded (a truncated file)."""
    counted: bool = True
    """Whether ``frame_count`` is the container's own count (else an estimate from its duration, good to a frame)."""
    resized: list[int] = field(default_factory=list)
    """After iterating: the indices of frames of another size than the first (a folder of mixed pictures, a stream
    that changes resolution), resized to (width, height) so that every frame's coordinates mean the same pixels."""

    @property
    def rate(self) -> float:
        """Frames per second to use: the video's own, else DEFAULT_FPS."""
        return self.fps or DEFAULT_FPS

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index, frame) pairs; a frame that cannot be decoded is skipped, its index too (``lost`` counts them)."""
        self.resized = []
        if self.kind == "image":
            yield 0, read_image(self.path)
        elif self.kind == "folder":
            for i, f in enumerate(_folder_images(self.path)):
                yield i, self._same_size(i, read_image(f))
        else:
            for i, frame in _decode(self):
                yield i, self._same_size(i, frame)

    def _same_size(self, index: int, frame: np.ndarray) -> np.ndarray:
        if frame.shape[:2] == (self.height, self.width):
            return frame
        import cv2

        self.resized.append(index)
        return cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)


def _folder_images(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _decode(source: FrameSource) -> Iterator[tuple[int, np.ndarray]]:
    """Decodes packet by packet, so that a corrupt packet costs its frame, not the rest of the video."""
    import av

    source.lost = source.missing_at_end = 0
    index = 0
    try:
        with av.open(str(source.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except (av.error.InvalidDataError, av.error.PatchWelcomeError):
                    if packet.size:  # a corrupt packet: its frame is lost, its index kept
                        source.lost += 1
                        index += 1
                    continue
                for frame in frames:
                    # PyAV's arrays are views of row-padded planes whenever a row's bytes are not a multiple of
                    # the alignment (widths 300, 410, 850...); dlib's HOG detector misreads such views, so every
                    # consumer gets contiguous frames from here.
                    yield index, np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                    index += 1
    except av.error.FFmpegError as e:
        raise InputError(f"{source.path}: the video could not be decoded ({e}); is it corrupt or truncated?") from e
    # an estimated count may be a frame off (how a container counts the last frame's duration)
    if source.frame_count and index < source.frame_count - (0 if source.counted else 1):
        source.missing_at_end = source.frame_count - index


def open_frames(path: str | Path) -> FrameSource:
    """Opens a video, an image or a folder of images, checking that it holds at least one frame."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = _folder_images(path)
        if not files:
            raise InputError(f"{path}: the folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        first = read_image(files[0])
        return FrameSource(path, "folder", first.shape[1], first.shape[0], DEFAULT_FPS, len(files))
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = read_image(path)
        return FrameSource(path, "image", image.shape[1], image.shape[0], 0.0, 1)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: the file has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.base_rate or DEFAULT_FPS)
            count = stream.frames or None
            counted = count is not None
            if count is None and container.duration and fps:  # Matroska and WebM give no count: the duration does
                count = round(container.duration / 1e6 * fps) or None
            width, height = stream.codec_context.width, stream.codec_context.height
            first = next(iter(container.decode(stream)), None)
            if first is None:
                raise InputError(f"{path}: the video holds no frames")
            width, height = first.width, first.height
    except av.error.FFmpegError as e:
        raise InputError(f"{path}: not a readable video or image (FFmpeg: {getattr(e, 'strerror', None) or e}); if it is a "
                         "video, it may be incomplete: use a complete copy, or re-encode it (ffmpeg -i IN -c:v libx264 "
                         "OUT.mp4)") from e
    return FrameSource(path, "video", width, height, fps, count, counted=counted)
