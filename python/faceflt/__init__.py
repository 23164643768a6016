"""faceflt: Facial Landmarks Transformation.

Fit the Surrey Face Model to a reference picture and to each driving frame, keep the reference's
identity with the driver's expression and head pose, and turn that face back into 2D landmarks.

    >>> import faceflt
    >>> model = faceflt.load_model()            # or load_model("path/to/sfm"); see faceflt.model
    >>> ref = faceflt.fit(model, ref_landmarks, image_size=(W, H))
    >>> drv = faceflt.fit(model, video_landmarks, image_size=(W, H), sequential=True)
    >>> flt = faceflt.fuse(model, ref, drv, guides=video_landmarks).landmarks   # (B, 68, 2)

The main job, with the modes of faceflt.flt (``relative`` by default), is ``faceflt.transform``.
"""

from importlib.metadata import PackageNotFoundError, version

from . import errors
from .driving import DrivingTrack, fit_driving, fit_reference
from .fitting import Cameras, FitOptions, FitResult, FusedResult, fit, fit_identity, fuse, lift
from .flt import Mode, Reference, flt_landmarks
from .model import FaceModel, download_model, find_model_dir, load_model
from .pipeline import Pipeline, TransformOptions, TransformResult, transform
from .render import Renderer, RenderResult, reference_texture

try:
    __version__ = version("faceflt")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "Cameras",
    "DrivingTrack",
    "FaceModel",
    "FitOptions",
    "FitResult",
    "FusedResult",
    "Mode",
    "Pipeline",
    "Reference",
    "RenderResult",
    "Renderer",
    "TransformOptions",
    "TransformResult",
    "__version__",
    "download_model",
    "errors",
    "find_model_dir",
    "fit",
    "fit_driving",
    "fit_identity",
    "fit_reference",
    "flt_landmarks",
    "fuse",
    "lift",
    "load_model",
    "reference_texture",
    "transform",
]
