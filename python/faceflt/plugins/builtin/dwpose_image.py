"""Pose images in the DWPose / ControlNet style of controlnet_aux and Moore-AnimateAnyone.

The drawing follows controlnet_aux's ``draw_pose`` (as written up in ../shared/notes/eos-and-formats.md):
17 limbs as filled ellipses of half-width 4, the limb layer dimmed to 60%, 18 joints as dots of
radius 4, hands as HSV-coloured lines of width 2 with red dots, and the 68 face points as white dots
of radius 3, face last. Points with a score below 0.3 are not drawn. Coordinates are normalised by
the canvas size and scaled back, as there, so the same keypoints give the same pixels.
Needs OpenCV (``pip install opencv-python-headless``); mp4 output needs PyAV (``pip install av``).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..hookspecs import hookimpl
from ..types import PoseFrame, WriterSpec

SCORE_THRESHOLD = 0.3
_EPS = 0.01
# OpenPose-18 limbs (1-based joint pairs); the last two (shoulder-ear) are not drawn.
_LIMBS = [(2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13), (13, 14),
          (2, 1), (1, 15), (15, 17), (1, 16), (16, 18)]
_COLORS = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
           (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
           (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)]
_HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
               (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]


def _normalised(points: np.ndarray | None, scores: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
    """Pixels -> [0, 1] by the canvas size, -1 where missing or scored below the threshold."""
    if points is None:
        return None
    w, h = size
    out = np.asarray(points, np.float64) / np.array([w, h], np.float64)
    bad = ~np.isfinite(out).all(axis=-1)
    if scores is not None:
        bad |= np.asarray(scores) < SCORE_THRESHOLD
    out[bad] = -1.0
    return out


def to_dwpose_dict(frame: PoseFrame) -> dict:
    """The keypoints as controlnet_aux's pose dict (one person): normalised candidate (18, 2) and subset
    (1, 18) with -1 for missing joints, hands (2, 21, 2) and faces (1, 68, 2) with -1 for missing points."""
    body = _normalised(frame.body, frame.body_scores, frame.image_size)
    if body is None:
        candidate, subset = np.zeros((0, 2)), np.zeros((0, 18))
    else:
        candidate = body
        subset = np.where((body >= 0).all(axis=1), np.arange(18), -1).astype(float)[None]
    hands = _normalised(frame.hands, frame.hand_scores, frame.image_size)
    face = _normalised(frame.face, frame.face_scores, frame.image_size)
    return {"bodies": {"candidate": candidate, "subset": subset},
            "hands": np.zeros((0, 21, 2)) if hands is None else hands,
            "faces": face[None]}


def draw_dwpose(pose: dict, height: int, width: int) -> np.ndarray:
    """Draws a pose dict (see :func:`to_dwpose_dict`) on a black uint8 (H, W, 3) RGB canvas."""
    import cv2

    canvas = np.zeros((height, width, 3), np.uint8)
    candidate, subset = np.asarray(pose["bodies"]["candidate"]), np.asarray(pose["bodies"]["subset"])
    for limb, (a, b) in enumerate(_LIMBS):
        for person in subset:
            ends = person[[a - 1, b - 1]]
            if (ends == -1).any():
                continue
            xs = candidate[ends.astype(int), 0] * float(width)
            ys = candidate[ends.astype(int), 1] * float(height)
            length = math.hypot(xs[0] - xs[1], ys[0] - ys[1])
            angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
            polygon = cv2.ellipse2Poly((int(np.mean(xs)), int(np.mean(ys))), (int(length / 2), 4), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, _COLORS[limb])
    canvas = (canvas * 0.6).astype(np.uint8)
    for joint in range(18):
        for person in subset:
            index = int(person[joint])
            if index == -1:
                continue
            x, y = candidate[index][:2]
            cv2.circle(canvas, (int(x * width), int(y * height)), 4, _COLORS[joint], thickness=-1)

    for hand in np.asarray(pose["hands"]):
        for e, (a, b) in enumerate(_HAND_EDGES):
            x1, y1 = int(hand[a][0] * width), int(hand[a][1] * height)
            x2, y2 = int(hand[b][0] * width), int(hand[b][1] * height)
            if x1 > _EPS and y1 > _EPS and x2 > _EPS and y2 > _EPS:
                color = np.array(colorsys.hsv_to_rgb(e / float(len(_HAND_EDGES)), 1.0, 1.0)) * 255
                cv2.line(canvas, (x1, y1), (x2, y2), color, thickness=2)
        for x, y in hand:
            x, y = int(x * width), int(y * height)
            if x > _EPS and y > _EPS:
                cv2.circle(canvas, (x, y), 4, (0, 0, 255), thickness=-1)

    for face in np.asarray(pose["faces"]):
        for x, y in face:
            x, y = int(x * width), int(y * height)
            if x > _EPS and y > _EPS:
                cv2.circle(canvas, (x, y), 3, (255, 255, 255), thickness=-1)
    return canvas


@dataclass(frozen=True)
class DwposeImageOptions:
    fps: float = 30.0
    """Frame rate of an mp4 output."""


class FrameSink:
    """Streams RGB frames to ``path``: an .mp4 (H.264 through PyAV) or a folder of numbered PNGs."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self._container = self._stream = None
        if path.suffix.lower() != ".mp4":
            path.mkdir(parents=True, exist_ok=True)

    def write(self, index: int, image: np.ndarray) -> None:
        if self.path.suffix.lower() != ".mp4":
            import cv2

            if not cv2.imwrite(str(self.path / f"{index:06d}.png"), image[..., ::-1]):
                raise OSError(f"could not write {self.path / f'{index:06d}.png'}")
            return
        import av
        from fractions import Fraction

        if self._container is None:
            self._container = av.open(str(self.path), mode="w")
            self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            self._stream.height, self._stream.width = image.shape[:2]
            self._stream.pix_fmt = "yuv420p"
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None


class DwposeImageWriter:
    def __init__(self, path: Path, options: DwposeImageOptions) -> None:
        self._sink = FrameSink(path, options.fps)

    def write(self, frame: PoseFrame) -> None:
        width, height = frame.image_size
        self._sink.write(frame.index, draw_dwpose(to_dwpose_dict(frame), height, width))

    def close(self) -> None:
        self._sink.close()


@hookimpl
def faceflt_register_writers() -> list[WriterSpec]:
    return [WriterSpec(name="dwpose", options=DwposeImageOptions, factory=DwposeImageWriter,
                       description="pose images as controlnet_aux / Moore-AnimateAnyone draw them (PNG folder or .mp4)")]
