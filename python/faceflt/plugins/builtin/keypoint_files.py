"""Keypoints a user already extracted, read frame by frame:

- a folder of OpenPose JSON files (either layout; see openpose_json), one per frame, in name order, such as
  faceflt's own ``openpose/`` output;
- a ComfyUI POSE_KEYPOINT export (what comfyui_controlnet_aux's DWPose node outputs and its "Save Pose
  Keypoints" node writes): one JSON list, a ``{"people": [...], "canvas_width", "canvas_height"}`` per frame,
  coordinates normalised to [0, 1] or, as the DWPose node writes them, in pixels (told apart per frame);
- a DWPose JSON file: a list of controlnet_aux-style pose dicts, one per frame, with coordinates
  normalised to [0, 1] (``bodies.candidate``/``subset``, ``faces``, ``hands``, optional ``*_score``;
  -1 or a score below 0.3 marks a missing point);
- an .npz with arrays ``face`` (T, 68, 2) in pixels and optionally ``face_scores``, ``body``,
  ``body_scores``, ``hands``, ``hand_scores``, ``image_size`` (as faceflt's npz writer writes it).

The ``keypoints`` detector replays such a file in step with the frames it is given; where a layout does not
store the frame size (official OpenPose JSON, DWPose dicts), it is the size of those frames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..hookspecs import hookimpl
from ..types import Detections, DetectorSpec, PoseFrame
from .openpose_json import read_openpose

_THRESHOLD = 0.3


def _from_dwpose_dict(pose: dict, size: tuple[int, int], index: int) -> PoseFrame:
    scale = np.array(size, np.float64)

    def pixels(points, scores):
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        sc = np.ones(len(pts)) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        out = pts * scale
        out[(pts < 0).any(1) | (sc < _THRESHOLD)] = np.nan
        return out.astype(np.float32), np.where(np.isnan(out).any(1), 0.0, sc).astype(np.float32)

    faces = np.asarray(pose.get("faces", []), np.float64)
    if faces.size == 0:
        face, face_scores = np.full((68, 2), np.nan, np.float32), np.zeros(68, np.float32)
    else:
        face, face_scores = pixels(faces[0], None if "faces_score" not in pose else np.asarray(pose["faces_score"])[0])
    body = body_scores = None
    bodies = pose.get("bodies")
    if bodies and len(bodies.get("subset", [])):
        candidate = np.asarray(bodies["candidate"], np.float64).reshape(-1, 2)
        subset = np.asarray(bodies["subset"], np.float64)[0]
        joints = np.where(subset[:, None] >= 0, candidate[np.clip(subset, 0, None).astype(int)], -1.0)
        body, body_scores = pixels(joints, None if "score" not in bodies else np.asarray(bodies["score"])[0])
    hands = hand_scores = None
    if len(pose.get("hands", [])):
        raw = np.asarray(pose["hands"], np.float64)[:2]
        scores = np.asarray(pose["hands_score"])[:2] if "hands_score" in pose else [None, None]
        pairs = [pixels(raw[k], scores[k]) for k in range(len(raw))]
        hands, hand_scores = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    return PoseFrame(index=index, image_size=tuple(size), face=face, face_scores=face_scores, body=body,
                     body_scores=body_scores, hands=hands, hand_scores=hand_scores)


def read_keypoints(path: str | Path, image_size: tuple[int, int] | None = None) -> Iterator[PoseFrame]:
    """Yields the frames of a keypoint file or folder (see the module docstring), in order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise FileNotFoundError(f"{path}: no OpenPose .json files in this folder")
        for i, f in enumerate(files):
            yield read_openpose(json.loads(f.read_text()), image_size=image_size, index=i)
    elif path.suffix == ".npz":
        data = np.load(path)
        if "face" not in data:
            raise ValueError(f"{path}: expected an array 'face' (T, 68, 2) in pixels; found {', '.join(data.files)}")
        size = tuple(int(v) for v in data["image_size"]) if "image_size" in data else image_size
        if size is None:
            raise ValueError(f"{path}: no 'image_size' array; pass image_size=(width, height)")
        get = lambda name, i: data[name][i] if name in data else None
        for i in range(len(data["face"])):
            face_scores = get("face_scores", i)
            yield PoseFrame(index=i, image_size=size, face=data["face"][i].astype(np.float32),
                            face_scores=np.ones(68, np.float32) if face_scores is None else face_scores.astype(np.float32),
                            body=get("body", i), body_scores=get("body_scores", i), hands=get("hands", i), hand_scores=get("hand_scores", i))
    elif path.suffix == ".json":
        poses = json.loads(path.read_text())
        if isinstance(poses, dict):
            poses = [poses]
        if not isinstance(poses, list) or not all(isinstance(p, dict) for p in poses):
            raise ValueError(f"{path}: expected a list of pose dicts (a POSE_KEYPOINT export or DWPose dicts)")
        for i, pose in enumerate(poses):
            if "people" in pose:  # POSE_KEYPOINT / OpenPose layout: a frame without a person has no face
                yield read_openpose(pose, image_size=image_size, index=i)
            else:
                if image_size is None:
                    raise ValueError(f"{path}: DWPose dicts hold normalised coordinates; pass image_size=(width, height)")
                yield _from_dwpose_dict(pose, image_size, i)
    else:
        raise ValueError(f"{path}: expected a folder of OpenPose JSON files, a DWPose .json or an .npz")


@dataclass(frozen=True)
class KeypointFileOptions:
    path: str = ""
    """The keypoint file or folder."""
    width: int = 0
    height: int = 0
    """Frame size in pixels, for layouts that do not store it (0: from the file)."""


class KeypointFileDetector:
    """Replays a keypoint file: each call returns the next frames' keypoints (the images are not looked at)."""

    scheme = "ibug68"

    def __init__(self, options: KeypointFileOptions) -> None:
        if not options.path:
            raise ValueError("the keypoints detector needs path= (a keypoint file or folder)")
        if not Path(options.path).exists():
            raise ValueError(f"keypoints option path: no such file or folder {options.path!r}")
        self._options = options
        self._frames: Iterator[PoseFrame] | None = None
        self._given = 0

    def detect(self, images: Sequence[np.ndarray], boxes: np.ndarray | None = None) -> Detections:
        if self._frames is None:  # the frame size, where the file does not store it, is the frames'
            o = self._options
            first = images[0] if len(images) else None
            size = ((o.width, o.height) if o.width and o.height else
                    (first.shape[1], first.shape[0]) if isinstance(first, np.ndarray) else None)
            self._frames = read_keypoints(o.path, size)
        frames = []
        for _ in images:
            frame = next(self._frames, None)
            if frame is None:
                if not self._given:
                    raise ValueError("the keypoint file holds no frames")
                raise ValueError(f"the keypoint file has {self._given} frame{'s' if self._given > 1 else ''}, fewer than the "
                                 f"video; pass --max-frames {self._given} to use only those")
            self._given += 1
            frames.append(frame)
        stack = lambda get, shape, fill: np.stack([np.full(shape, fill, np.float32) if get(f) is None else np.asarray(get(f), np.float32) for f in frames])
        face = stack(lambda f: f.face, (68, 2), np.nan)
        boxes_out = np.full((len(frames), 4), np.nan, np.float32)
        for i, f in enumerate(face):
            ok = np.isfinite(f).all(1)
            if ok.any():
                boxes_out[i] = (*f[ok].min(0), *f[ok].max(0))
        return Detections(landmarks=face, confidences=stack(lambda f: f.face_scores, (68,), 0.0), boxes=boxes_out, scheme="ibug68",
                          body=stack(lambda f: f.body, (18, 2), np.nan), body_scores=stack(lambda f: f.body_scores, (18,), 0.0),
                          hands=stack(lambda f: f.hands, (2, 21, 2), np.nan), hand_scores=stack(lambda f: f.hand_scores, (2, 21), 0.0))


@hookimpl
def faceflt_register_detectors() -> list[DetectorSpec]:
    return [DetectorSpec(name="keypoints", scheme="ibug68", options=KeypointFileOptions, factory=KeypointFileDetector,
                         uses_images=False,  # the keypoints refer to whole frames: no crops
                         description="keypoints you already extracted: OpenPose JSON folder, ComfyUI POSE_KEYPOINT export, DWPose JSON, or .npz")]
