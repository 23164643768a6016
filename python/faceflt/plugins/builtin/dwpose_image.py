"""Pose images as pose-guided animation models were trained on them.

Two styles share one drawing routine (17 limbs as filled ellipses of half-width 4 on a layer dimmed to
60%, 18 joints as dots of radius 4, hands as HSV-coloured lines of width 2 with dots, the 68 face points
as dots of radius 3, face last):

- ``dwpose``: controlnet_aux's ``draw_pose``, used by Moore-AnimateAnyone. Points scored below 0.3
  are not drawn; colours are fixed (hand dots blue-channel 255, face dots white). Coordinates are
  normalised by the canvas size and scaled back, as there, so the same keypoints give the same pixels.
- ``mimicmotion``: MimicMotion's and ControlNeXt-SVD-v2's: colours scaled by the confidence (a limb by
  the product of its ends'), limbs below 0.3 skipped, drawn on a canvas whose short side is 2160 px,
  resized to the frame (bilinear) and given with red and blue swapped, as their pipelines feed it.

Needs OpenCV (``pip install opencv-python-headless``); mp4 output needs PyAV (``pip install av``).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...io.sink import FrameSink
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
_DIM = (np.arange(256) * 0.6).astype(np.uint8)
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


def _scaled(color, weight: float) -> list[int]:
    return [int(c * weight) for c in color]


def draw_pose_image(pose: dict, height: int, width: int, confidence_colours: bool = False) -> np.ndarray:
    """Draws a pose dict on a black uint8 (height, width, 3) canvas.

    pose: controlnet_aux's dict (see :func:`to_dwpose_dict`); with ``confidence_colours`` it also needs
    per-point scores: ``bodies["score"]`` (1, 18), ``hands_score`` (2, 21), ``faces_score`` (1, 68), and
    colours are scaled by them (MimicMotion's style).
    """
    import cv2

    canvas = np.zeros((height, width, 3), np.uint8)
    candidate, subset = np.asarray(pose["bodies"]["candidate"]), np.asarray(pose["bodies"]["subset"])
    body_scores = np.asarray(pose["bodies"].get("score", np.ones_like(subset)))
    for limb, (a, b) in enumerate(_LIMBS):
        for person, scores in zip(subset, body_scores):
            ends = person[[a - 1, b - 1]]
            conf = scores[[a - 1, b - 1]]
            if (ends == -1).any() or (confidence_colours and (conf < SCORE_THRESHOLD).any()):
                continue
            xs = candidate[ends.astype(int), 0] * float(width)
            ys = candidate[ends.astype(int), 1] * float(height)
            length = math.hypot(xs[0] - xs[1], ys[0] - ys[1])
            angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
            polygon = cv2.ellipse2Poly((int(np.mean(xs)), int(np.mean(ys))), (int(length / 2), 4), int(angle), 0, 360, 1)
            colour = _scaled(_COLORS[limb], conf[0] * conf[1]) if confidence_colours else _COLORS[limb]
            cv2.fillConvexPoly(canvas, polygon, colour)
    canvas = cv2.LUT(canvas, _DIM)  # = (canvas * 0.6).astype(np.uint8), controlnet_aux's dimming, 5x faster
    for joint in range(18):
        for person, scores in zip(subset, body_scores):
            index = int(person[joint])
            if index == -1:
                continue
            x, y = candidate[index][:2]
            colour = _scaled(_COLORS[joint], scores[joint]) if confidence_colours else _COLORS[joint]
            cv2.circle(canvas, (int(x * width), int(y * height)), 4, colour, thickness=-1)

    hands = np.asarray(pose["hands"])
    hand_scores = np.asarray(pose.get("hands_score", np.ones(hands.shape[:2])))
    for hand, scores in zip(hands, hand_scores):
        for e, (a, b) in enumerate(_HAND_EDGES):
            x1, y1 = int(hand[a][0] * width), int(hand[a][1] * height)
            x2, y2 = int(hand[b][0] * width), int(hand[b][1] * height)
            if x1 > _EPS and y1 > _EPS and x2 > _EPS and y2 > _EPS:
                weight = int(scores[a] * scores[b] * 255) if confidence_colours else 255
                colour = np.array(colorsys.hsv_to_rgb(e / float(len(_HAND_EDGES)), 1.0, 1.0)) * weight
                cv2.line(canvas, (x1, y1), (x2, y2), colour, thickness=2)
        for k, (x, y) in enumerate(hand):
            x, y = int(x * width), int(y * height)
            if x > _EPS and y > _EPS:
                cv2.circle(canvas, (x, y), 4, (0, 0, int(scores[k] * 255) if confidence_colours else 255), thickness=-1)

    faces = np.asarray(pose["faces"])
    face_scores = np.asarray(pose.get("faces_score", np.ones(faces.shape[:2])))
    for face, scores in zip(faces, face_scores):
        for (x, y), score in zip(face, scores):
            x, y = int(x * width), int(y * height)
            if x > _EPS and y > _EPS:
                c = int(score * 255) if confidence_colours else 255
                cv2.circle(canvas, (x, y), 3, (c, c, c), thickness=-1)
    return canvas


def draw_dwpose(pose: dict, height: int, width: int) -> np.ndarray:
    """controlnet_aux's style (see the module docstring)."""
    return draw_pose_image(pose, height, width)


def to_mimicmotion_dict(frame: PoseFrame) -> dict:
    """MimicMotion's pose dict: coordinates normalised (-1 only where missing, no score threshold) and
    the scores beside them."""
    norm = lambda points: _normalised(points, None, frame.image_size)

    def scores(values, points):
        return np.where(np.isfinite(np.asarray(points)).all(-1), np.asarray(values, np.float64), 0.0)

    if frame.body is None:
        candidate, subset, body_scores = np.zeros((0, 2)), np.zeros((0, 18)), np.zeros((0, 18))
    else:
        candidate = norm(frame.body)
        subset = np.where((candidate >= 0).all(axis=1), np.arange(18), -1).astype(float)[None]
        body_scores = scores(frame.body_scores, frame.body)[None]
    hands = np.zeros((0, 21, 2)) if frame.hands is None else norm(frame.hands)
    hand_scores = np.zeros((0, 21)) if frame.hands is None else scores(frame.hand_scores, frame.hands)
    return {"bodies": {"candidate": candidate, "subset": subset, "score": body_scores}, "hands": hands,
            "hands_score": hand_scores, "faces": norm(frame.face)[None], "faces_score": scores(frame.face_scores, frame.face)[None]}


def draw_mimicmotion(frame: PoseFrame, reference_short_side: int = 2160) -> np.ndarray:
    """MimicMotion's style (see the module docstring), uint8 (H, W, 3) in the channel order it feeds its model."""
    import cv2

    w, h = frame.image_size
    short = min(w, h)
    ratio = reference_short_side / short if short != reference_short_side else 1
    canvas = draw_pose_image(to_mimicmotion_dict(frame), int(h * ratio), int(w * ratio), confidence_colours=True)
    return cv2.resize(canvas, (w, h))[..., ::-1].copy()


@dataclass(frozen=True)
class DwposeImageOptions:
    fps: float = 30.0
    """Frame rate of an mp4 output."""
    draw_resolution: int = 512
    """Short side, pixels, of the canvas the strokes are drawn on before it is resized to the frame (Moore-AnimateAnyone
    draws at 512, so HD frames get the stroke thickness its models were trained on); 0: draw at the frame's own size."""

    def __post_init__(self) -> None:
        if isinstance(self.draw_resolution, bool) or not isinstance(self.draw_resolution, int) or not 0 <= self.draw_resolution <= 8192:
            raise ValueError(f"draw_resolution must be a whole number of pixels from 0 to 8192, got {self.draw_resolution!r}")


@dataclass(frozen=True)
class MimicmotionImageOptions(DwposeImageOptions):
    draw_resolution: int = 2160
    """As for dwpose; MimicMotion draws on a 2160-pixel short side."""


def draw_at(frame: PoseFrame, short_side: int) -> np.ndarray:
    """The DWPose drawing of a frame on a canvas whose short side is ``short_side`` (0: the frame's size),
    resized to the frame's size."""
    import cv2

    w, h = frame.image_size
    if not short_side or short_side == min(w, h):
        return draw_dwpose(to_dwpose_dict(frame), h, w)
    ratio = short_side / min(w, h)
    canvas = draw_dwpose(to_dwpose_dict(frame), int(round(h * ratio)), int(round(w * ratio)))
    # bilinear, as controlnet_aux resizes its detection-size drawing to the output size
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_LINEAR)


class DwposeImageWriter:
    def __init__(self, path: Path, options: DwposeImageOptions) -> None:
        self._sink = FrameSink(path, options.fps)
        self._options = options

    def write(self, frame: PoseFrame) -> None:
        self._sink.write(frame.index, draw_at(frame, self._options.draw_resolution))

    def close(self) -> None:
        self._sink.close()


class DwposePngWriter(DwposeImageWriter):
    """The dwpose drawing as a folder of numbered PNGs whatever the input (UniAnimate reads pose frames so)."""

    def __init__(self, path: Path, options: DwposeImageOptions) -> None:
        super().__init__(path.with_suffix("") if path.suffix.lower() == ".mp4" else path, options)


class MimicmotionImageWriter(DwposeImageWriter):
    def write(self, frame: PoseFrame) -> None:
        self._sink.write(frame.index, draw_mimicmotion(frame, self._options.draw_resolution or min(frame.image_size)))


@hookimpl
def faceflt_register_writers() -> list[WriterSpec]:
    return [WriterSpec(name="dwpose", options=DwposeImageOptions, factory=DwposeImageWriter,
                       target=lambda c: f"{c.stem}_kps.mp4" if c.video else "dwpose",
                       description="pose images as controlnet_aux / Moore-AnimateAnyone draw them (PNG folder or .mp4)"),
            WriterSpec(name="dwpose-png", options=DwposeImageOptions, factory=DwposePngWriter, target=lambda c: f"{c.stem}_kps",
                       description="the dwpose drawing as a folder of numbered PNGs, also for a video (UniAnimate's layout)"),
            WriterSpec(name="mimicmotion", options=MimicmotionImageOptions, factory=MimicmotionImageWriter,
                       target=lambda c: f"{c.stem}_mimicmotion.mp4" if c.video else "mimicmotion",
                       description="pose images as MimicMotion / ControlNeXt-SVD-v2 draw them (confidence colours, "
                                   "2160 px canvas, R and B swapped)")]
