"""Following one face through a video: detect once, then search each next frame only around where the
face was, re-detecting the whole frame on schedule or when the face is lost."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .plugins import Detections
from .plugins.types import checked

__all__ = ["Tracker", "bbox", "region_around", "shifted"]


def bbox(points: np.ndarray) -> np.ndarray:
    ok = np.isfinite(points).all(-1)
    return np.r_[points[ok].min(0), points[ok].max(0)].astype(np.float32)


def region_around(box: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """The square twice the size of a box (x0, y0, x1, y1), clipped to the picture: (x0, y0, x1, y1) whole pixels,
    or None if less than 16 pixels of it are left."""
    centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).max()
    lo = np.clip(np.floor(centre - half), 0, [width, height]).astype(int)
    hi = np.clip(np.ceil(centre + half), 0, [width, height]).astype(int)
    return np.r_[lo, hi] if (hi - lo).min() > 16 else None


class Tracker:
    """Runs a detector over frames in order. After a full-frame detection, the next frame is searched
    only in a region around the previous landmarks (twice their size): cheaper, and the detector still
    decides whether a face is there. When it finds none, or on schedule, the whole frame is searched."""

    CHUNK_BYTES = 256 << 20
    """A detector that tracks gets the frames in chunks of at most this many bytes (and CHUNK_FRAMES frames)."""
    CHUNK_FRAMES = 512
    """The most frames in a chunk."""

    def __init__(self, detector, interval: int, crops: bool = True, tracks: bool = False,
                 on_frame: Callable[[int], None] | None = None, name: str = "") -> None:
        """crops: False for whole frames only (DetectorSpec.crops); tracks: the detector follows the person itself
        (DetectorSpec.tracks) and gets the frames, in order and in chunks, through its ``track``; on_frame: called
        with n as such a detector finishes n more frames, where its ``track`` takes ``progress``."""
        self.detector, self.interval, self.crops, self.tracks = detector, interval, crops, tracks
        self.name = name or type(detector).__name__  # what errors call it
        self.on_frame = on_frame
        self.reports = on_frame is not None and tracks and "progress" in inspect.signature(detector.track).parameters
        """Whether on_frame hears of each frame from the detector (else a chunk is done all at once)."""
        self.region: np.ndarray | None = None
        self.since_full = 0
        self.first = True
        self.pending: list[tuple[int, np.ndarray]] = []

    def push(self, index: int, frame: np.ndarray) -> list[tuple[int, Detections, int]]:
        """The next decoded frame; returns the (index, detections, row) of the frames whose detection is done."""
        if not self.tracks:
            return [(index, self.detect(frame), 0)]
        self.pending.append((index, frame))
        chunk = min(self.CHUNK_FRAMES, max(1, self.CHUNK_BYTES // max(1, frame.nbytes)))
        return self.flush() if len(self.pending) >= chunk else []

    def flush(self) -> list[tuple[int, Detections, int]]:
        """The frames still held (a tracking detector's last chunk)."""
        if not self.pending:
            return []
        frames = [frame for _, frame in self.pending]
        if self.reports:
            found = self.detector.track(frames, self.first, progress=self.on_frame)
        else:
            found = self.detector.track(frames, self.first)
        found = checked(found, self.name, len(frames))
        done = [(index, found, j) for j, (index, _) in enumerate(self.pending)]
        self.first, self.pending = False, []
        return done

    def detect(self, frame: np.ndarray) -> Detections:
        if not self.crops:
            return checked(self.detector.detect([frame]), self.name, 1)
        found = None
        if self.region is not None and self.since_full < self.interval:
            x0, y0, x1, y1 = self.region
            found = checked(self.detector.detect([np.ascontiguousarray(frame[y0:y1, x0:x1])]), self.name, 1)
            if found.found[0]:
                found = shifted(found, np.array([x0, y0], np.float32))
                self.since_full += 1
            else:
                found = None
        if found is None:
            found = checked(self.detector.detect([frame]), self.name, 1)
            self.since_full = 0
        self.region = region_around(bbox(found.landmarks[0]), frame.shape[1], frame.shape[0]) if found.found[0] else None
        return found


def shifted(found: Detections, offset: np.ndarray) -> Detections:
    """Detections made on a crop, moved back into the frame."""
    move = lambda a: None if a is None else a + offset
    return replace(found, landmarks=found.landmarks + offset, boxes=found.boxes + np.r_[offset, offset],
                   body=move(found.body), hands=move(found.hands))
