"""DWPose whole-body keypoints (133 COCO-WholeBody points) with onnxruntime.

The weights: DWPose's ``yolox_l.onnx`` (person detector) and ``dw-ll_ucoco_384.onnx`` (RTMPose-style
whole-body model). ``faceflt model download dwpose`` fetches them into the cache, where this detector finds
them; or give the paths of your own copies as options. faceflt ships no weights.

Pipeline, after DWPose's ONNX demo: YOLOX on a 640 x 640 letterbox (scale to fit, pad with 114,
BGR, no normalisation), grid decoding, person boxes by score and NMS; then for the largest person,
the box enlarged 1.25x and fixed to the model's 3:4 aspect is warped to 288 x 384, normalised by the
ImageNet mean and std, and the SimCC outputs are decoded by argmax (split ratio 2). The 133 points are
re-ordered to OpenPose-18 (+ neck from the shoulders), 6 feet points, 68 face points (iBUG order) and
2 x 21 hands.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..hookspecs import hookimpl
from ..types import Detections, DetectorSpec

# COCO-WholeBody body joints -> OpenPose-18 positions (the neck, 1, is the mean of the shoulders).
_MMPOSE_TO_OPENPOSE = {0: 0, 6: 2, 8: 3, 10: 4, 5: 5, 7: 6, 9: 7, 12: 8, 14: 9, 16: 10, 11: 11, 13: 12, 15: 13, 2: 14, 1: 15,
                       4: 16, 3: 17}
_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
_STD = np.array([58.395, 57.12, 57.375], np.float32)


@dataclass(frozen=True)
class DwposeOptions:
    detector_model: str = ""
    """Path to DWPose's yolox_l.onnx; default: the one ``faceflt model download dwpose`` put in the cache."""
    pose_model: str = ""
    """Path to DWPose's dw-ll_ucoco_384.onnx; default: the one in the cache."""
    min_person_score: float = 0.3
    providers: tuple[str, ...] = ("CPUExecutionProvider",)


def letterbox(image_bgr: np.ndarray, size: int = 640) -> tuple[np.ndarray, float]:
    """YOLOX input: the image scaled to fit size x size at the top-left, padded with 114. (1, 3, S, S) float32."""
    import cv2

    h, w = image_bgr.shape[:2]
    ratio = min(size / h, size / w)
    resized = cv2.resize(image_bgr, (int(w * ratio), int(h * ratio)), interpolation=cv2.INTER_LINEAR)
    padded = np.full((size, size, 3), 114, np.uint8)
    padded[: resized.shape[0], : resized.shape[1]] = resized
    return np.ascontiguousarray(padded.transpose(2, 0, 1), np.float32)[None], ratio


def decode_yolox(raw: np.ndarray, size: int, ratio: float, min_score: float, nms_iou: float = 0.45) -> np.ndarray:
    """YOLOX head output (A, 5 + classes) -> person boxes (P, 5): x0, y0, x1, y1 in image pixels, score."""
    strides = [8, 16, 32]
    grids, expanded = [], []
    for s in strides:
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
        expanded.append(np.full((n * n, 1), s))
    grid, stride = np.concatenate(grids).astype(np.float32), np.concatenate(expanded).astype(np.float32)
    centre = (raw[:, :2] + grid) * stride
    wh = np.exp(raw[:, 2:4]) * stride
    boxes = np.concatenate([centre - wh / 2, centre + wh / 2], 1) / ratio
    scores = raw[:, 4] * raw[:, 5]  # objectness x the person class
    keep = scores > min_score
    boxes, scores = boxes[keep], scores[keep]
    order = np.argsort(-scores)
    chosen = []
    while len(order):
        i = order[0]
        chosen.append(i)
        x0 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        y0 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        x1 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        y1 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / (area(boxes[i]) + area(boxes[order[1:]]) - inter)
        order = order[1:][iou <= nms_iou]
    return np.concatenate([boxes[chosen], scores[chosen, None]], 1) if chosen else np.zeros((0, 5), np.float32)


def crop_transform(box: np.ndarray, width: int = 288, height: int = 384, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and size of the region around a box (enlarged, fixed to width:height) and the 2x3 affine
    map from image to crop pixels."""
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float64)
    size = np.array([box[2] - box[0], box[3] - box[1]], np.float64) * padding
    aspect = width / height
    if size[0] > size[1] * aspect:
        size[1] = size[0] / aspect
    else:
        size[0] = size[1] * aspect
    scale = width / size[0]
    to_crop = np.array([[scale, 0.0, width / 2 - scale * centre[0]], [0.0, scale, height / 2 - scale * centre[1]]])
    return centre, size, to_crop


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, centre: np.ndarray, size: np.ndarray,
                 width: int = 288, height: int = 384, split: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """SimCC outputs (K, W*split), (K, H*split) -> keypoints (K, 2) in image pixels and scores (K,)."""
    x, y = np.argmax(simcc_x, 1), np.argmax(simcc_y, 1)
    scores = np.minimum(simcc_x.max(1), simcc_y.max(1))
    crop = np.stack([x, y], 1).astype(np.float64) / split
    points = crop / np.array([width, height]) * size + centre - size / 2
    points[scores <= 0] = np.nan
    return points.astype(np.float32), np.clip(scores, 0, 1).astype(np.float32)


def to_openpose(points: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """133 COCO-WholeBody points -> OpenPose-18 body (+ neck), feet, 68 face, hands (left, right)."""
    body = np.full((18, 2), np.nan, np.float32)
    body_scores = np.zeros(18, np.float32)
    for src, dst in _MMPOSE_TO_OPENPOSE.items():
        body[dst], body_scores[dst] = points[src], scores[src]
    body[1] = (points[5] + points[6]) / 2
    body_scores[1] = float(scores[5] > 0.3 and scores[6] > 0.3)
    return {"body": body, "body_scores": body_scores, "feet": points[17:23], "face": points[23:91],
            "face_scores": scores[23:91], "hands": np.stack([points[91:112], points[112:133]]),
            "hand_scores": np.stack([scores[91:112], scores[112:133]])}


class DwposeDetector:
    scheme = "ibug68"

    def __init__(self, options: DwposeOptions) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("the dwpose detector runs its models with onnxruntime: pip install \"faceflt[dwpose]\"") from None

        from ...downloads import DWPOSE_FILES, dwpose_dir

        cached = dwpose_dir()
        options = replace(options, detector_model=options.detector_model or str(cached / DWPOSE_FILES[0]),
                          pose_model=options.pose_model or str(cached / DWPOSE_FILES[1]))
        for what, path in (("detector_model (yolox_l.onnx)", options.detector_model), ("pose_model (dw-ll_ucoco_384.onnx)", options.pose_model)):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"dwpose: {what} not found at {path!r}; run `faceflt model download dwpose` to fetch "
                                        "DWPose's weights into the cache, or pass detector_model= and pose_model= with the "
                                        "paths of your .onnx files")
        self._options = options
        self._det = ort.InferenceSession(options.detector_model, providers=list(options.providers))
        self._pose = ort.InferenceSession(options.pose_model, providers=list(options.providers))
        shape = self._pose.get_inputs()[0].shape  # (1, 3, H, W)
        self._height, self._width = int(shape[2]), int(shape[3])
        self._det_size = int(self._det.get_inputs()[0].shape[2])

    def detect(self, images: Sequence[np.ndarray], boxes: np.ndarray | None = None) -> Detections:
        import cv2

        n = len(images)
        out = {"landmarks": np.full((n, 68, 2), np.nan, np.float32), "confidences": np.zeros((n, 68), np.float32),
               "boxes": np.full((n, 4), np.nan, np.float32), "body": np.full((n, 18, 2), np.nan, np.float32),
               "body_scores": np.zeros((n, 18), np.float32), "hands": np.full((n, 2, 21, 2), np.nan, np.float32),
               "hand_scores": np.zeros((n, 2, 21), np.float32), "num_faces": np.zeros(n, np.int32)}
        for i, image in enumerate(images):
            bgr = np.ascontiguousarray(np.asarray(image, np.uint8)[..., ::-1])
            if boxes is not None and np.isfinite(boxes[i]).all():
                person = np.asarray(boxes[i], np.float64)
                out["num_faces"][i] = 1
            else:
                tensor, ratio = letterbox(bgr, self._det_size)
                raw = self._det.run(None, {self._det.get_inputs()[0].name: tensor})[0][0]
                people = decode_yolox(raw, self._det_size, ratio, self._options.min_person_score)
                out["num_faces"][i] = len(people)
                if len(people) == 0:
                    continue
                person = people[np.argmax((people[:, 2] - people[:, 0]) * (people[:, 3] - people[:, 1]))][:4]
            centre, size, to_crop = crop_transform(person, self._width, self._height)
            crop = cv2.warpAffine(bgr, to_crop, (self._width, self._height), flags=cv2.INTER_LINEAR)
            tensor = ((crop.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]
            simcc_x, simcc_y = self._pose.run(None, {self._pose.get_inputs()[0].name: np.ascontiguousarray(tensor)})
            points, scores = decode_simcc(simcc_x[0], simcc_y[0], centre, size, self._width, self._height)
            parts = to_openpose(points, scores)
            out["landmarks"][i], out["confidences"][i] = parts["face"], parts["face_scores"]
            face = parts["face"][np.isfinite(parts["face"]).all(1)]
            if len(face):
                out["boxes"][i] = (*face.min(0), *face.max(0))
            for key in ("body", "body_scores", "hands", "hand_scores"):
                out[key][i] = parts[key]
        return Detections(scheme=self.scheme, **out)


@hookimpl
def faceflt_register_detectors() -> list[DetectorSpec]:
    return [DetectorSpec(name="dwpose", scheme="ibug68", options=DwposeOptions, factory=DwposeDetector, whole_body=True,
                         requires=("onnxruntime",), install='pip install "faceflt[dwpose]" && faceflt model download dwpose',
                         description="DWPose whole body (133 points: OpenPose-18 body, 68 face, hands) with onnxruntime; "
                                     "weights from `faceflt model download dwpose`, or your own files as options")]
