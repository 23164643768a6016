"""OpenPose JSON, in the official layout and in the ControlNet / ComfyUI one.

Official (CMU OpenPose doc/02_output.md): pixels, ``x, y, c`` triplets, a 70-point face (iBUG 68
and the two pupils, right then left), COCO-18 body, 21-point hands; missing points are 0, 0, 0.
ControlNet (sd-webui-controlnet / comfyui_controlnet_aux's POSE_KEYPOINT): a 68-point face (70 from DWPose: the
two eyes of the body added), confidence 1.0 for present points, plus ``canvas_width`` / ``canvas_height``; its
coordinates are normalised to [0, 1] (the OpenPose node, sd-webui-controlnet, faceflt) or in pixels of the canvas
(comfyui_controlnet_aux's DWPose node since 2024). The reader tells them apart per document, as controlnet_aux's
own drawing does per part: pixels where any present coordinate is beyond NORMALISED_LIMIT.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..hookspecs import hookimpl
from ..types import PoseFrame, WriterSpec

NORMALISED_LIMIT = 2.0
"""A ControlNet-layout document with a present coordinate beyond this (in absolute value) is in pixels. Normalised
coordinates stay in [0, 1] but for points off the canvas; pixel coordinates of a person are far beyond 2."""


def _triplets(points: np.ndarray | None, scores: np.ndarray | None, scale: np.ndarray, unit_confidence: bool,
              canvas: np.ndarray | None = None) -> list[float] | None:
    """x, y, c triplets; ``canvas`` (width, height): points off it are written as missing."""
    if points is None:
        return None
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    sc = np.ones(len(pts)) if scores is None else np.asarray(scores, np.float64).reshape(-1)
    present = np.isfinite(pts).all(axis=1) & (sc > 0)
    if canvas is not None:
        with np.errstate(invalid="ignore"):
            present &= ((pts >= 0) & (pts <= canvas)).all(axis=1)
    out = np.zeros((len(pts), 3))
    out[present, :2] = pts[present] / scale
    out[present, 2] = 1.0 if unit_confidence else np.clip(sc[present], 0, 1)
    return [round(float(v), 6) for v in out.reshape(-1)]


def pose_to_openpose(frame: PoseFrame, variant: Literal["openpose", "controlnet"] = "openpose", *, pixels: bool = False) -> dict:
    """One frame as an OpenPose JSON document (a dict). ``pixels``: the ControlNet layout in pixels of the canvas, as
    comfyui_controlnet_aux's DWPose node writes it, instead of normalised. Normalised, a point off the canvas is
    written as missing: controlnet_aux's drawing takes a part holding a coordinate outside [0, 1] for pixels."""
    w, h = frame.image_size
    hands = frame.hands
    hand_scores = frame.hand_scores
    if variant == "openpose":
        scale, unit = np.array([1.0, 1.0]), False
        eyes = np.asarray(frame.face, np.float64)
        face = np.concatenate([eyes, eyes[36:42].mean(0, keepdims=True), eyes[42:48].mean(0, keepdims=True)])
        fs = np.asarray(frame.face_scores, np.float64)
        face_scores = np.concatenate([fs, [fs[36:42].min(), fs[42:48].min()]])
    elif variant == "controlnet":
        scale, unit = (np.array([1.0, 1.0]) if pixels else np.array([w, h], np.float64)), True
        face, face_scores = frame.face, frame.face_scores
    else:
        raise ValueError(f"variant must be 'openpose' or 'controlnet', got {variant!r}")
    body = frame.body
    if body is None and variant == "controlnet":  # 18 missing points, as DWPose writes a frame without a body:
        body = np.full((18, 2), np.nan)           # controlnet_aux's consumers index it
    canvas = None if variant == "openpose" or pixels else np.array([w, h], np.float64)
    person = {
        "pose_keypoints_2d": _triplets(body, frame.body_scores, scale, unit, canvas),
        "face_keypoints_2d": _triplets(face, face_scores, scale, unit, canvas),
        "hand_left_keypoints_2d": _triplets(None if hands is None else hands[0], None if hand_scores is None else hand_scores[0], scale,
                                            unit, canvas),
        "hand_right_keypoints_2d": _triplets(None if hands is None else hands[1], None if hand_scores is None else hand_scores[1], scale,
                                             unit, canvas),
    }
    # a frame where nothing of the person was seen has nobody in it, as OpenPose writes it
    seen = [np.isfinite(np.asarray(a, np.float64)).all(-1).any() for a in (frame.face, frame.body, hands) if a is not None]
    people = [person] if any(seen) else []
    if variant == "openpose":
        people = [{"person_id": [-1], **{k: (v if v is not None else []) for k, v in p.items()}, "pose_keypoints_3d": [],
                   "face_keypoints_3d": [], "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []} for p in people]
        document = {"version": 1.3, "people": people}
    else:
        document = {"people": people, "canvas_height": int(h), "canvas_width": int(w)}
    # What faceflt knows about the frame (e.g. {"face": "interpolated"}) goes in a key of its own,
    # which OpenPose readers ignore.
    if frame.status:
        document["faceflt"] = {"face": frame.status}
    return document


_PARTS = ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d")


def _present(person: dict) -> np.ndarray:
    """(N, 2): every point of a person's 2D parts whose confidence is above 0."""
    parts = [np.asarray(person[key], np.float64).reshape(-1, 3) for key in _PARTS
             if isinstance(person.get(key), list) and person[key] and len(person[key]) % 3 == 0]
    return np.concatenate([t[t[:, 2] > 0, :2] for t in parts]) if parts else np.zeros((0, 2))


def _main_person(people: list[dict]) -> int:
    """The person whose present points span the largest box (the one the video is of, where others pass behind):
    OpenPose and DWPose list people in their detector's order, which changes from frame to frame."""
    def span(person: dict) -> float:
        present = _present(person)
        return float(np.prod(np.ptp(present, axis=0))) if len(present) >= 2 else -1.0

    return max(range(len(people)), key=lambda i: span(people[i])) if len(people) > 1 else 0


def in_pixels(document: dict) -> bool:
    """Whether a ControlNet-layout document's coordinates are pixels (DWPose's node) rather than normalised."""
    return any((np.abs(_present(person)) > NORMALISED_LIMIT).any() for person in document.get("people") or [])


def read_openpose(document: dict, image_size: tuple[int, int] | None = None, index: int = 0) -> PoseFrame:
    """The main person of an OpenPose JSON document (the largest, ``_main_person``), either layout, as a PoseFrame in
    pixels (NaN everywhere for a document that lists nobody).

    ``image_size`` (width, height) is needed for the official layout, which does not store it.
    """
    controlnet = "canvas_width" in document
    if controlnet:
        size = (int(document["canvas_width"]), int(document["canvas_height"]))
        scale = np.ones(2) if in_pixels(document) else np.array(size, np.float64)
    else:
        if image_size is None:
            raise ValueError("the official OpenPose layout does not store the image size: pass image_size=(width, height)")
        size, scale = image_size, np.array([1.0, 1.0])
    people = document.get("people") or []
    if not people:  # nobody seen in this frame (as OpenPose writes it): a frame without a face
        return PoseFrame(index=index, image_size=tuple(size), face=np.full((68, 2), np.nan, np.float32),
                         face_scores=np.zeros(68, np.float32))
    person = people[_main_person(people)]

    def points(key: str, count: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        values = person.get(key)
        if not values:
            return None, None
        arr = np.asarray(values, np.float64).reshape(-1, 3)
        if len(arr) < count:
            raise ValueError(f"{key}: expected {count} points, got {len(arr)}")
        arr = arr[:count]
        xy = arr[:, :2] * scale
        xy[arr[:, 2] <= 0] = np.nan
        return xy.astype(np.float32), arr[:, 2].astype(np.float32)

    face, face_scores = points("face_keypoints_2d", 68)
    if face is None:
        face, face_scores = np.full((68, 2), np.nan, np.float32), np.zeros(68, np.float32)
    body, body_scores = points("pose_keypoints_2d", 18)
    left, left_scores = points("hand_left_keypoints_2d", 21)
    right, right_scores = points("hand_right_keypoints_2d", 21)
    hands = hand_scores = None
    if left is not None or right is not None:
        empty = np.full((21, 2), np.nan, np.float32)
        hands = np.stack([left if left is not None else empty, right if right is not None else empty])
        hand_scores = np.stack([s if s is not None else np.zeros(21, np.float32) for s in (left_scores, right_scores)])
    return PoseFrame(index=index, image_size=size, face=face, face_scores=face_scores, body=body, body_scores=body_scores,
                     hands=hands, hand_scores=hand_scores)


def write_json_atomically(path: Path, document: dict) -> None:
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask's permissions, as every other output
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class OpenposeJsonOptions:
    variant: Literal["openpose", "controlnet"] = "openpose"
    """'openpose': CMU's layout (pixels, 70-point face); 'controlnet': normalised, 68 points, canvas size."""


class OpenposeJsonWriter:
    """A folder of ``<frame:012d>_keypoints.json`` files, as OpenPose's --write_json names them."""

    def __init__(self, path: Path, options: OpenposeJsonOptions) -> None:
        if options.variant not in ("openpose", "controlnet"):
            raise ValueError(f"variant must be 'openpose' or 'controlnet', got {options.variant!r}")
        self._path, self._variant = path, options.variant
        path.mkdir(parents=True, exist_ok=True)

    def write(self, frame: PoseFrame) -> None:
        write_json_atomically(self._path / f"{frame.index:012d}_keypoints.json", pose_to_openpose(frame, self._variant))

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class ControlnetJsonOptions:
    variant: Literal["openpose", "controlnet"] = "controlnet"
    """As OpenposeJsonOptions, with the ControlNet layout by default."""


@dataclass(frozen=True)
class PoseKeypointOptions:
    pass


class PoseKeypointWriter:
    """One JSON file holding ComfyUI's POSE_KEYPOINT: a list with one ControlNet-layout document per frame, the layout
    comfyui_controlnet_aux's "Save Pose Keypoints" node writes; normalised, with 68 face points, as its OpenPose node
    gives it (its DWPose node gives pixels and 70 points: its readers, and faceflt's, take both)."""

    def __init__(self, path: Path, options: PoseKeypointOptions) -> None:
        self._path = path if path.suffix == ".json" else path.with_suffix(".json")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._documents: list[dict] = []

    def write(self, frame: PoseFrame) -> None:
        self._documents.append(pose_to_openpose(frame, "controlnet"))

    def close(self) -> None:
        write_json_atomically(self._path, self._documents)


@hookimpl
def faceflt_register_writers() -> list[WriterSpec]:
    return [WriterSpec(name="openpose", options=OpenposeJsonOptions, factory=OpenposeJsonWriter,
                       description="OpenPose JSON per frame, CMU's layout (pixels, 70-point face)"),
            WriterSpec(name="openpose-controlnet", options=ControlnetJsonOptions, factory=OpenposeJsonWriter,
                       target=lambda c: "openpose_controlnet",
                       description="OpenPose JSON per frame, ControlNet / ComfyUI layout (normalised, 68-point face, "
                       "canvas_width / canvas_height)"),
            WriterSpec(name="pose-keypoint", options=PoseKeypointOptions, factory=PoseKeypointWriter,
                       target=lambda c: "pose_keypoint.json",
                       description="one JSON list of ControlNet-layout frames: ComfyUI's POSE_KEYPOINT")]
