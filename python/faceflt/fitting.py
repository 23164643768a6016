"""Fitting the face model to 2D landmarks, and the FLT fusion of two fits.

All arrays are numpy, float32, C order. Landmarks are iBUG-68 points in pixels, origin at the
top-left corner of the image, y pointing down; NaN marks a missing point.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Literal, Sequence

import numpy as np

from . import _core
from .errors import FitError
from .model import FaceModel

__all__ = ["Cameras", "FitOptions", "FitResult", "FusedResult", "LiftedLandmarks", "as_cameras", "fit", "fit_identity", "fuse", "lift"]


@dataclass(frozen=True)
class FitOptions:
    """How to fit. The defaults are eos's ``fit_shape_and_pose`` defaults (eos-py 1.5)."""

    num_iterations: int = 5
    """Rounds of correspondences, camera, shape and expression. 1-5 suffice with a warm start."""
    lambda_identity: float = 30.0
    """Weight of the shape prior; larger keeps the shape nearer the mean face."""
    lambda_expression: float = 30.0
    """Weight of the expression prior, for PCA expression models only (blendshapes use NNLS)."""
    num_shape_coefficients: int | None = None
    """Fit only the first n shape coefficients; ``None``: all."""
    fit_expression: bool = True
    use_contour: bool = True
    """Match the jaw landmarks to the model's contour line (chosen by yaw)."""
    use_occluding_edge: bool = True
    """Match the jaw landmarks of the side turned away to the mesh's visible silhouette."""
    contour_yaw_threshold: float = 7.5
    """Degrees: within +-threshold both contours are used."""
    edge_distance_threshold: float = 180.0
    """Occluding-edge pairs are kept if squared distance <= threshold * camera scale (pixels^2)."""
    min_landmarks: int = 6
    """Fewer usable non-contour landmarks make a frame fail."""

    def _to_core(self, fit_shape: bool) -> _core.FitOptions:
        return _core_options(self, fit_shape)


@lru_cache(maxsize=64)
def _core_options(options: FitOptions, fit_shape: bool) -> _core.FitOptions:
    """The compiled options struct, made once per (options, fit_shape): a fit is often ~1 ms."""
    if options.num_iterations < 0:
        raise ValueError(f"num_iterations must be >= 0, got {options.num_iterations}")
    o = _core.FitOptions()
    for f in fields(options):
        value = getattr(options, f.name)
        if f.name == "num_shape_coefficients":
            value = -1 if value is None else value
        setattr(o, f.name, value)
    o.fit_shape = fit_shape
    return o


@dataclass(frozen=True)
class Cameras:
    """Per frame, how the face is posed and what expression it wears: what fusing, lifting and rendering read.

    A fit gives them (``FitResult.cameras``); the driving track holds them gap-filled and smoothed, so they carry
    no fitted landmarks or shape of their own."""

    expression_coeffs: np.ndarray
    """float32 (B, K): blendshape weights."""
    rotation: np.ndarray
    """float32 (B, 3, 3): model-to-camera rotation."""
    scale: np.ndarray
    """float32 (B,): pixels per model unit."""
    translation: np.ndarray
    """float32 (B, 2): (tx, ty), model units."""
    yaw_pitch_roll: np.ndarray
    """float32 (B, 3): degrees, eos's convention."""
    image_size: np.ndarray
    """int32 (B, 2): (width, height), pixels."""
    ok: np.ndarray
    """bool (B,): frames with a camera."""

    def __len__(self) -> int:
        return int(self.ok.shape[0])

    def select(self, rows) -> "Cameras":
        """The cameras of some frames: ``rows`` is an index array, a slice or a boolean mask."""
        return type(self)(**{k: v[rows] for k, v in self.__dict__.items()})

    def bound(self) -> "_core.CameraBatch":
        """The same cameras as the core's bound class, which fusing, lifting and rendering take."""
        return _core.CameraBatch(self.expression_coeffs, self.rotation, self.scale, self.translation, self.image_size)


@dataclass(frozen=True)
class FitResult:
    """Fits of B frames. A frame that could not be fitted has ``ok[i] == False`` and NaN values."""

    shape_coeffs: np.ndarray
    """float32 (B, m): identity coefficients, ~N(0, 1) (m = 63 for the SFM)."""
    expression_coeffs: np.ndarray
    """float32 (B, K): blendshape weights >= 0 (K = 6: anger, disgust, fear, happiness, sadness, surprise)."""
    rotation: np.ndarray
    """float32 (B, 3, 3): model-to-camera rotation."""
    scale: np.ndarray
    """float32 (B,): pixels per model unit (mm)."""
    translation: np.ndarray
    """float32 (B, 2): (tx, ty) in model units; u = s (r1.X + tx), v = H - s (r2.X + ty)."""
    yaw_pitch_roll: np.ndarray
    """float32 (B, 3): degrees, eos's convention (R = Ry(yaw) Rx(pitch) Rz(roll))."""
    projected: np.ndarray
    """float32 (B, 68, 2): pixels; the fitted face's landmarks under the fitted camera."""
    image_size: np.ndarray
    """int32 (B, 2): (width, height) in pixels."""
    ok: np.ndarray
    """bool (B,): whether each frame was fitted."""
    num_landmarks_used: np.ndarray
    """int32 (B,): usable (non-contour, non-NaN) landmarks per frame."""
    errors: tuple[str, ...] = field(default=())
    """Per frame: why it failed, or ''."""
    vertices: np.ndarray | None = None
    """float32 (B, N, 3), model units: the fitted meshes, when asked for (``return_mesh=True``)."""

    def __len__(self) -> int:
        return int(self.ok.shape[0])

    @property
    def cameras(self) -> Cameras:
        """The fitted cameras and expressions."""
        return Cameras(self.expression_coeffs, self.rotation, self.scale, self.translation, self.yaw_pitch_roll,
                       self.image_size, self.ok)

    def select(self, rows) -> "FitResult":
        """The fits of some frames: ``rows`` is an index array, a slice or a boolean mask."""
        pick = lambda v: v[rows] if isinstance(v, np.ndarray) else v
        errors = tuple(np.asarray(self.errors, dtype=object)[rows]) if self.errors else ()
        return FitResult(**{**{k: pick(v) for k, v in self.__dict__.items()}, "errors": errors})

    @classmethod
    def _from_core(cls, a: _core.FitArrays, vertices: np.ndarray | None = None) -> "FitResult":
        return cls(shape_coeffs=a.shape_coeffs, expression_coeffs=a.expression_coeffs, rotation=a.rotation, scale=a.scale,
                   translation=a.translation, yaw_pitch_roll=a.yaw_pitch_roll, projected=a.projected, image_size=a.image_size,
                   ok=a.ok, num_landmarks_used=a.num_landmarks_used, errors=tuple(a.errors), vertices=vertices)


@dataclass(frozen=True)
class FusedResult:
    """The FLT face of each driving frame: reference identity, driving expression and camera."""

    landmarks: np.ndarray
    """float32 (B, 68, 2): pixels in the driving frame; NaN where the driving frame had no fit."""
    vertices: np.ndarray | None = None
    """float32 (B, N, 3): the fused meshes (model units), when asked for."""
    vertex_ids: np.ndarray | None = None
    """int32 (B, 68): the mesh vertex each landmark was taken from (-1 where no fit); the jaw's depend on the pose."""


def _landmarks(landmarks: np.ndarray, confidences: np.ndarray | None, min_confidence: float, fn: str) -> np.ndarray:
    lms = np.asarray(landmarks, dtype=np.float32)
    if lms.ndim == 2:
        lms = lms[None]
    if lms.ndim != 3 or lms.shape[2] != 2:
        raise ValueError(f"{fn}(): landmarks must have shape (68, 2) or (B, 68, 2), got {np.shape(landmarks)}")
    if confidences is not None:
        conf = np.asarray(confidences, dtype=np.float32)
        if conf.ndim == 1:
            conf = conf[None]
        if conf.shape != lms.shape[:2]:
            raise ValueError(f"{fn}(): confidences must have shape {lms.shape[:2]}, got {np.shape(confidences)}")
        lms = np.where((conf >= min_confidence)[..., None], lms, np.float32(np.nan))
    return np.ascontiguousarray(lms)


MAX_IMAGE_SIDE = 1 << 16
"""The largest image width or height, pixels, that fitting accepts."""


def _sizes(image_size: Sequence[int] | np.ndarray, batch: int, fn: str) -> np.ndarray:
    if isinstance(image_size, tuple) and len(image_size) == 2 and all(type(v) is int for v in image_size):
        # The common (width, height): checked in Python, no array round trip (a fit is ~1 ms).
        if not (0 < image_size[0] <= MAX_IMAGE_SIDE and 0 < image_size[1] <= MAX_IMAGE_SIDE):
            raise ValueError(f"{fn}(): image sizes must be whole numbers from 1 to {MAX_IMAGE_SIDE}, got {image_size}")
        sizes = np.empty((batch, 2), np.int32)
        sizes[:] = image_size
        return sizes
    raw = np.asarray(image_size)
    if raw.shape == (2,):
        raw = np.broadcast_to(raw, (batch, 2))
    if raw.shape != (batch, 2):
        raise ValueError(f"{fn}(): image_size must be (width, height) or shape ({batch}, 2), got {np.shape(image_size)}")
    # checked before the cast, so that inf, 2**40 or 2**32 + 1000 cannot overflow or wrap around
    try:
        values = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}(): image sizes must be numbers, got {raw.dtype}") from None
    bad = ~(np.isfinite(values) & (values >= 1) & (values <= MAX_IMAGE_SIDE) & (values == np.round(values)))
    if bad.any():
        raise ValueError(f"{fn}(): image sizes must be whole numbers from 1 to {MAX_IMAGE_SIDE}, got {raw[bad.any(1)][0].tolist()}")
    return np.ascontiguousarray(values.astype(np.int32))


def _coefficients(value, length: int, fn: str, name: str, limit: float) -> np.ndarray | None:
    """A start or fixed coefficient vector: length checked, finite, within +-limit standard deviations."""
    if value is None:
        return None
    v = np.asarray(value, np.float32).reshape(-1)
    if v.shape != (length,):
        raise ValueError(f"{fn}(): {name} must have {length} values (the model's), got {v.size}")
    if not np.isfinite(v).all() or np.abs(v).max(initial=0) > limit:
        raise ValueError(f"{fn}(): {name} must be finite and within +-{limit:g}, got a value of {np.abs(v).max():.3g}")
    return np.ascontiguousarray(v)


def _check_model(model, fn: str) -> None:
    if not isinstance(model, _core.FaceModel):
        raise TypeError(f"{fn}(): model must be a FaceModel from faceflt.load_model(), got {type(model).__name__}")


def _check_failures(result: FitResult, on_failure: str) -> FitResult:
    if on_failure not in ("raise", "nan"):
        raise ValueError(f"on_failure must be 'raise' or 'nan', got {on_failure!r}")
    if on_failure == "raise" and not result.ok.all():
        bad = np.flatnonzero(~result.ok)
        detail = "; ".join(f"frame {i}: {result.errors[i]}" for i in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise FitError(f"{len(bad)} of {len(result)} frames could not be fitted: {detail}{more}. "
                       "Pass on_failure='nan' to get NaN rows for them instead.")
    return result


def fit(
    model: FaceModel,
    landmarks: np.ndarray,
    image_size: Sequence[int] | np.ndarray,
    options: FitOptions = FitOptions(),
    *,
    confidences: np.ndarray | None = None,
    min_confidence: float = 0.0,
    shape_coeffs: np.ndarray | None = None,
    expression_start: np.ndarray | None = None,
    sequential: bool = False,
    num_threads: int = 0,
    return_mesh: bool = False,
    on_failure: Literal["raise", "nan"] = "raise",
) -> FitResult:
    """Fits shape, expression and camera to each frame's landmarks (eos's ``fit_shape_and_pose``).

    Args:
        model: from :func:`faceflt.load_model`.
        landmarks: float (68, 2) or (B, 68, 2), pixels, iBUG order; NaN where missing.
        image_size: (width, height) of every frame, or (B, 2).
        options: see :class:`FitOptions`.
        confidences: optional (B, 68) detector scores; points below ``min_confidence`` count as missing.
        shape_coeffs: (m,) a fixed identity: only camera and expression are fitted (driving frames).
        expression_start: (K,) warm start for the expression.
        sequential: frames are a video: each starts from the previous frame's result.
        num_threads: threads for independent frames (0: all cores); the GIL is released.
        return_mesh: also return the fitted meshes (``FitResult.vertices``).
        on_failure: ``'raise'`` a :class:`FitError` if any frame fails, or give it ``'nan'`` values.
    """
    _check_model(model, "fit")
    lms = _landmarks(landmarks, confidences, min_confidence, "fit")
    sizes = _sizes(image_size, lms.shape[0], "fit")
    fixed = shape_coeffs is not None
    d = _core.fit_batch(
        model, lms, sizes, options._to_core(fit_shape=not fixed),
        shape_start=_coefficients(shape_coeffs, model.num_shape_coefficients, "fit", "shape_coeffs", 100.0),
        expression_start=_coefficients(expression_start, model.num_expression_coefficients, "fit", "expression_start", 100.0),
        sequential=sequential, num_threads=num_threads,
    )
    vertices = _core.build_meshes(model, d.shape_coeffs, d.expression_coeffs) if return_mesh else None
    return _check_failures(FitResult._from_core(d, vertices), on_failure)


def fit_identity(
    model: FaceModel,
    landmarks: np.ndarray,
    image_size: Sequence[int] | np.ndarray,
    options: FitOptions = FitOptions(),
    *,
    confidences: np.ndarray | None = None,
    min_confidence: float = 0.0,
    return_mesh: bool = False,
) -> FitResult:
    """Fits one shared identity to several pictures of the same person (per-picture camera and expression).

    Every row of the result's ``shape_coeffs`` holds the shared identity. Raises :class:`FitError`
    if a picture has too few usable landmarks (a reference must be good).
    """
    _check_model(model, "fit_identity")
    lms = _landmarks(landmarks, confidences, min_confidence, "fit_identity")
    sizes = _sizes(image_size, lms.shape[0], "fit_identity")
    d = _core.fit_identity(model, lms, sizes, options._to_core(fit_shape=True))
    vertices = _core.build_meshes(model, d.shape_coeffs, d.expression_coeffs) if return_mesh else None
    return FitResult._from_core(d, vertices)


def as_cameras(poses: "FitResult | Cameras") -> Cameras:
    """The cameras of fits, or the cameras themselves."""
    return poses.cameras if isinstance(poses, FitResult) else poses


def fuse(
    model: FaceModel,
    reference: FitResult | np.ndarray,
    driving: FitResult | Cameras,
    guides: np.ndarray | None = None,
    *,
    vertex_ids: np.ndarray | None = None,
    return_mesh: bool = False,
) -> FusedResult:
    """The FLT landmarks: the reference's identity with each driving frame's expression and camera.

    Args:
        reference: a fit of the reference picture(s) (its first row's identity is used) or (m,) shape coefficients.
        driving: fits of the driving frames (e.g. ``fit(..., shape_coeffs=...)`` or a free fit), or their Cameras.
        guides: (B, 68, 2) the driving frames' detected landmarks; the jaw line follows the posed
            face's silhouette nearest to them. ``None``: a fit's own projected landmarks (Cameras have none:
            the jaw then takes the model contour).
        vertex_ids: (B, 68) take each landmark from these vertices instead (e.g. another fusion's
            ``vertex_ids``, so that the two differ by identity only, not by which jaw vertex was nearest).
        return_mesh: also return the fused meshes.
    """
    ref = reference.shape_coeffs[0] if isinstance(reference, FitResult) else np.asarray(reference, np.float32)
    g = getattr(driving, "projected", None) if guides is None else _landmarks(guides, None, 0.0, "fuse")
    d = _core.fuse(
        model, np.ascontiguousarray(ref, np.float32), as_cameras(driving).bound(), guides=g, keep_mesh=return_mesh,
        vertex_ids=None if vertex_ids is None else np.ascontiguousarray(vertex_ids, np.int32),
    )
    return FusedResult(landmarks=d.landmarks, vertices=d.meshes, vertex_ids=d.vertex_ids)


@dataclass(frozen=True)
class LiftedLandmarks:
    """Detected landmarks in the model's canonical frame (see :func:`lift`)."""

    points: np.ndarray
    """float32 (B, 68, 3), model units: each landmark on its camera ray at the fitted face's depth, the head
    rotation undone; NaN where a landmark is missing or a frame has no fit."""
    expression: np.ndarray
    """float32 (B, 68, 3), model units: the fitted expression's displacement of each landmark's vertex."""

    @property
    def neutral(self) -> np.ndarray:
        """(B, 68, 3): the same faces with a neutral expression, as far as the expression model can tell."""
        return self.points - self.expression


def lift(model: FaceModel, shape_coeffs: np.ndarray, fits: FitResult | Cameras, landmarks: np.ndarray) -> LiftedLandmarks:
    """Detected landmarks lifted into the model's canonical frame.

    Each landmark is put on its camera ray (``fits``: each frame's expression and camera) at the depth of
    the fitted face ``shape_coeffs`` (m,) (a jaw landmark at the silhouette or contour vertex nearest to
    it), and the head rotation is undone, so what the detector saw beyond the model stays.
    """
    lms = _landmarks(landmarks, None, 0.0, "lift")
    lifted = _core.lift_landmarks(model, np.ascontiguousarray(np.asarray(shape_coeffs, np.float32).reshape(-1)),
                                  as_cameras(fits).bound(), lms)
    return LiftedLandmarks(lifted.points, lifted.expression)
