"""Following one face through a video: detect once, then search each next frame only around where the
face was, re-detecting the whole frame on schedule or when the face is lost."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .plugins import Detections

__all__ = ["Tracker", "bbox", "shifted"]


def bbox(points: np.ndarray) -> np.ndarray:
    ok = np.isfinite(points).all(-1)
    return np.r_[points[ok].min(0), points[ok].max(0)].astype(np.float32)


class Tracker:
    """Runs a detector over frames in order. After a full-frame detection, the next frame is searched
    only in a region around the previous landmarks (twice their size): cheaper, and the detector still
    decides whether a face is there. When it finds none, or on schedule, the whole frame is searched."""

    def __init__(self, detector, interval: int, crops: bool = True) -> None:
        """crops: False for a detector that does not look at the images (DetectorSpec.uses_images): whole frames."""
        self.detector, self.interval, self.crops = detector, interval, crops
        self.region: np.ndarray | None = None
        self.since_full = 0

    def detect(self, frame: np.ndarray) -> Detections:
        if not self.crops:
            return self.detector.detect([frame])
        found = None
        if self.region is not None and self.since_full < self.interval:
            x0, y0, x1, y1 = self.region
            found = self.detector.detect([np.ascontiguousarray(frame[y0:y1, x0:x1])])
            if found.found[0]:
                found = shifted(found, np.array([x0, y0], np.float32))
                self.since_full += 1
            else:
                found = None
        if found is None:
            found = self.detector.detect([frame])
            self.since_full = 0
        if found.found[0]:
            box = bbox(found.landmarks[0])
            centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).max()  # twice the face's size, square
            h, w = frame.shape[:2]
            lo = np.clip(np.floor(centre - half), 0, [w, h]).astype(int)
            hi = np.clip(np.ceil(centre + half), 0, [w, h]).astype(int)
            self.region = np.r_[lo, hi] if (hi - lo).min() > 16 else None
        else:
            self.region = None
        return found


def shifted(found: Detections, offset: np.ndarray) -> Detections:
    """Detections made on a crop, moved back into the frame."""
    move = lambda a: None if a is None else a + offset
    return replace(found, landmarks=found.landmarks + offset, boxes=found.boxes + np.r_[offset, offset],
                   body=move(found.body), hands=move(found.hands))
