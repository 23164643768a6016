"""The paper's video protocol: does a generated video keep the reference's identity?

For each generated video and its reference picture: the face of every frame is embedded and compared
with the reference's embedding by cosine similarity; the per-video mean and variance over frames are
reported (the paper's Eq. 3). Over a whole set, the Frechet distance between the Gaussian fitted to the
generated frames' embeddings and the one fitted to the references' embeddings summarises how far the
generated faces are from the reference identities (as FID does with Inception features).

Embedders: offline by default, dlib's face-recognition ResNet (128-D, from ``face_recognition_models``),
a stand-in for ArcFace; or the user's own ArcFace ONNX model (112 x 112 aligned faces, 512-D). The
Frechet distance uses the identity embeddings, or, given the user's Inception ONNX model (FID's
network: 299 x 299 RGB in [-1, 1] -> 2048-D pool features), Inception features of the face crops, as
FID does.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np

from ..errors import InputError
from ..io import open_frames, read_image

# ArcFace's 112 x 112 alignment template for 5 points (eye centres, nose tip, mouth corners), pixels.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                             [70.7299, 92.2041]], np.float32)


class Embedder(Protocol):
    name: str

    def embed(self, image: np.ndarray) -> np.ndarray | None:
        """A unit-length embedding of the largest face in an RGB image, or None when there is no face."""


class DlibEmbedder:
    name = "dlib face recognition ResNet (stand-in for ArcFace)"

    def __init__(self) -> None:
        import dlib

        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None:
            raise InputError("the dlib embedder needs `pip install face_recognition_models`")
        models = Path(spec.submodule_search_locations[0]) / "models"
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, image: np.ndarray) -> np.ndarray | None:
        image = np.ascontiguousarray(image, np.uint8)
        faces = self._detector(image, 1)
        if len(faces) == 0:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        vector = np.asarray(self._net.compute_face_descriptor(image, self._shape(image, face)), np.float64)
        return vector / np.linalg.norm(vector)


class _OnnxFaceEmbedder:
    """A user's ONNX model run on the largest face dlib's 68-point detector finds; subclasses say how the
    face is cut out (``_face``) and what becomes of the output (``_finish``)."""

    name = "ONNX"
    kind = "ONNX"

    def __init__(self, model_path: str) -> None:
        import onnxruntime as ort

        from ..plugins import make_detector

        if not os.path.isfile(model_path):
            raise InputError(f"{model_path}: no {self.kind} ONNX model there (the weights are yours to supply)")
        try:
            self._session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own exception classes: a file that is not a model, or a broken one
            raise InputError(f"{model_path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]})") from None
        self._detector = make_detector("dlib")

    def _face(self, image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _finish(self, vector: np.ndarray) -> np.ndarray:
        return vector

    def embed(self, image: np.ndarray) -> np.ndarray | None:
        found = self._detector.detect([image])
        if not found.found[0]:
            return None
        face = self._face(np.ascontiguousarray(image, np.uint8), found.landmarks[0])
        tensor = ((face.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        output = self._session.run(None, {self._session.get_inputs()[0].name: tensor})[0]
        return self._finish(output.reshape(-1).astype(np.float64))


class ArcfaceEmbedder(_OnnxFaceEmbedder):
    """The user's ArcFace ONNX model (input (1, 3, 112, 112) RGB in [-1, 1], output (1, D)); faces are
    found by dlib's 68-point detector and aligned to ARCFACE_TEMPLATE by a similarity transform."""

    name = "ArcFace (ONNX)"
    kind = "ArcFace"

    @staticmethod
    def five_points(landmarks68: np.ndarray) -> np.ndarray:
        lm = np.asarray(landmarks68, np.float32)
        return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])

    @staticmethod
    def aligned(image: np.ndarray, five: np.ndarray) -> np.ndarray:
        import cv2

        matrix, _ = cv2.estimateAffinePartial2D(five.astype(np.float32), ARCFACE_TEMPLATE, method=cv2.LMEDS)
        return cv2.warpAffine(image, matrix, (112, 112), borderValue=0)

    def _face(self, image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        return self.aligned(image, self.five_points(landmarks68))

    def _finish(self, vector: np.ndarray) -> np.ndarray:
        return vector / np.linalg.norm(vector)


class InceptionEmbedder(_OnnxFaceEmbedder):
    """The user's Inception ONNX model for the Frechet distance (input (1, 3, S, S) RGB in [-1, 1], S read
    from the model, 299 for FID's network; output (1, D), e.g. the 2048-D pool features). The face crop is
    the square around dlib's 68 landmarks, 1.5x their extent, resized to S x S. Features are not normalised."""

    name = "Inception (ONNX)"
    kind = "Inception"

    def __init__(self, model_path: str) -> None:
        super().__init__(model_path)
        shape = self._session.get_inputs()[0].shape
        self.size = shape[-1] if isinstance(shape[-1], int) else 299

    def crop(self, image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        import cv2

        lo, hi = np.nanmin(landmarks68, 0), np.nanmax(landmarks68, 0)
        centre, half = (lo + hi) / 2, 0.75 * float((hi - lo).max())
        s = self.size / (2 * half)
        matrix = np.array([[s, 0, self.size / 2 - s * centre[0]], [0, s, self.size / 2 - s * centre[1]]], np.float32)
        return cv2.warpAffine(np.ascontiguousarray(image, np.uint8), matrix, (self.size, self.size), flags=cv2.INTER_AREA,
                              borderValue=0)

    _face = crop


def make_embedder(arcface_model: str | None = None) -> Embedder:
    return ArcfaceEmbedder(arcface_model) if arcface_model else DlibEmbedder()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of embeddings (rows):
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), the matrix square root through the symmetric
    S_a^(1/2) S_b S_a^(1/2) (same trace, well conditioned)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False)) if len(a) > 1 else np.zeros((a.shape[1], a.shape[1]))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False)) if len(b) > 1 else np.zeros((b.shape[1], b.shape[1]))
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sum(np.sqrt(np.clip(middle, 0, None))))


@dataclass(frozen=True)
class VideoIdentity:
    video: str
    reference: str
    frames: int
    faces: int
    mean_similarity: float
    variance: float


def video_identity(embedder: Embedder, video: Path, reference: Path, max_frames: int | None = None,
                   keep: list | None = None, features: Embedder | None = None) -> VideoIdentity:
    """Cosine similarity of every frame's face with the reference's, its mean and variance over frames.
    ``keep`` collects each face's embedding, or its ``features`` (e.g. Inception) when given."""
    ref = embedder.embed(read_image(reference))
    if ref is None:
        raise InputError(f"{reference}: no face in the reference picture")
    sims, frames = [], 0
    for index, frame in open_frames(video):
        if max_frames is not None and index >= max_frames:
            break
        frames += 1
        e = embedder.embed(frame)
        if e is None:
            continue
        sims.append(float(e @ ref))
        if keep is not None:
            f = e if features is None else features.embed(frame)
            if f is not None:
                keep.append(f)
    sims_arr = np.asarray(sims)
    return VideoIdentity(str(video), str(reference), frames, len(sims), float(sims_arr.mean()) if len(sims) else float("nan"),
                         float(sims_arr.var()) if len(sims) else float("nan"))


def evaluate_videos(pairs: Iterable[tuple[Path, Path]], embedder: Embedder, max_frames: int | None = None,
                    features: Embedder | None = None):
    """Per-video identity similarity and the set's Frechet distance (generated frames vs references), on
    the identity embeddings or on ``features`` (e.g. an InceptionEmbedder) when given."""
    results, generated, references = [], [], []
    for video, reference in pairs:
        results.append(video_identity(embedder, video, reference, max_frames, keep=generated, features=features))
        found = (features or embedder).embed(read_image(reference))
        if found is not None:
            references.append(found)
    fd = frechet_distance(np.stack(generated), np.stack(references)) if len(generated) > 1 and len(references) > 1 else float("nan")
    return results, fd


def bijection(videos: Sequence[Path], references: Sequence[Path], seed: int = 0) -> list[tuple[Path, Path]]:
    """The paper's pairing: a permutation of the references with a fixed seed, one per video."""
    if len(videos) != len(references):
        raise InputError(f"{len(videos)} videos and {len(references)} references: the shuffle pairs them one to one")
    order = np.random.default_rng(seed).permutation(len(references))
    return [(v, sorted(references)[order[i]]) for i, v in enumerate(sorted(videos))]
