"""The driving video's face as a track: every frame's detected landmarks, the driver's own identity
fitted over a sample of frames, and every frame's camera and expression fitted with that identity held
(warm-started from the previous frame). Short gaps without a face are interpolated in parameter space
and flagged; pose and expression are smoothed without lag."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from . import _core
from .errors import InputError
from .fitting import Cameras, FitOptions, FitResult, fit, fit_identity
from .plugins import Detections, DetectorSpec
from .plugins.types import face_found
from .smoothing import runs, smooth

__all__ = ["DrivingTrack", "detect_driving", "fit_driving", "fit_reference", "identity_options"]

MIN_CONFIDENCE = 0.3
"""Landmarks a detector scores below this count as missing in every fit."""


@dataclass(frozen=True)
class DrivingTrack:
    """What every FLT mode reads of the driving video."""

    landmarks: np.ndarray
    """float32 (T, 68, 2): detected, pixels; NaN where nothing."""
    confidences: np.ndarray
    """float32 (T, 68)."""
    size: tuple[int, int]
    """(width, height) of the frames, pixels."""
    fps: float
    driver: FitResult
    """The driver's own identity, fitted jointly over a sample of frames (row 0's shape_coeffs)."""
    cameras: Cameras
    """Per frame: camera and expression with the driver's identity, gaps filled, smoothed."""
    valid: np.ndarray
    """bool (T,): frames with a fit (detected, or interpolated across a short gap)."""
    interpolated: np.ndarray
    """bool (T,): frames interpolated across a gap."""


def detect_driving(frames: Iterable[tuple[int, np.ndarray]], detector, redetect_interval: int = 30,
                   max_frames: int | None = None, progress: bool | Callable[[int], None] = False, spec: DetectorSpec | None = None,
                   total: int | None = None) -> Detections:
    """Streams (index, RGB frame) pairs (a FrameSource, or ``enumerate(images)``) once through the detector,
    tracking the face between full detections: the landmarks (and whole-body keypoints, where the detector gives
    them) of every frame, (T, ...) arrays with NaN where nothing was found; a skipped index (a frame that could
    not be decoded) is a row without a face. ``spec``: the detector's spec, which says how frames may be given to
    it (crops around the previous face, whole frames, or its own tracking); None: a face detector that takes crops,
    or one that tracks if it has a ``track`` method.
    ``total``: the frame count, for the progress bar. ``progress``: True for a bar on the terminal, or a callable that
    hears of every n frames detected (``progress(n)``, from any thread: a host's own progress display)."""
    from .progress import Progress
    from .tracking import Tracker

    if spec is None:  # a detector given alone: one that tracks says so with its track() method
        tracks = callable(getattr(detector, "track", None))
        crops = not tracks
    else:
        crops, tracks = spec.crops, spec.tracks
    shapes = {"landmarks": (68, 2), "confidences": (68,), "body": (18, 2), "body_scores": (18,), "hands": (2, 21, 2),
              "hand_scores": (2, 21)}
    missing = {k: np.full(shape, 0.0 if k.endswith(("confidences", "scores")) else np.nan, np.float32) for k, shape in shapes.items()}
    rows: dict[str, list[np.ndarray]] = {k: [] for k in shapes}
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    report = progress if callable(progress) else None
    bar = Progress("detecting", total, bool(progress) and report is None)

    def step(n: int = 1) -> None:
        bar.step(n)
        if report is not None:
            report(n)

    # a tracking detector that reports frame by frame moves the bar itself
    name = spec.name if spec is not None else type(detector).__name__
    tracker = Tracker(detector, redetect_interval, crops=crops, tracks=tracks, on_frame=step, name=name)

    def add(index: int, found: Detections, j: int) -> None:
        while len(rows["landmarks"]) < index:  # frames that could not be decoded: rows without a face
            for k in shapes:
                rows[k].append(missing[k])
        rows["landmarks"].append(np.where(np.isfinite(found.landmarks[j]), found.landmarks[j], np.nan).astype(np.float32))
        rows["confidences"].append(found.confidences[j].astype(np.float32))
        for key in ("body", "body_scores", "hands", "hand_scores"):
            value = getattr(found, key)
            rows[key].append(missing[key] if value is None else value[j].astype(np.float32))
        if not tracker.reports:
            step()

    for index, frame in frames:
        if max_frames is not None and index >= max_frames:
            break
        for done in tracker.push(index, frame):
            add(*done)
    for done in tracker.flush():
        add(*done)
    bar.close()
    if not rows["landmarks"]:
        raise InputError("no frames were read")
    stacked = {k: np.stack(v) for k, v in rows.items()}
    lms = stacked["landmarks"]
    seen = np.isfinite(lms).all(-1).any(-1)
    boxes = np.full((len(lms), 4), np.nan, np.float32)
    boxes[seen] = np.c_[np.nanmin(lms[seen], 1), np.nanmax(lms[seen], 1)]
    return Detections(scheme="ibug68", boxes=boxes, **stacked)


def identity_options(identity_lambda: float) -> FitOptions:
    return FitOptions(lambda_identity=identity_lambda, num_iterations=10)


def fit_reference(model, landmarks: np.ndarray, sizes, confidences: np.ndarray | None, identity_lambda: float) -> FitResult:
    """One identity fitted jointly over several pictures of a person (R, 68, 2): the reference picture(s), or a
    sample of the driver's frames."""
    return fit_identity(model, landmarks, sizes, identity_options(identity_lambda), confidences=confidences,
                        min_confidence=MIN_CONFIDENCE)


def _fill_gaps(params: np.ndarray, ok: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of params (T, D) across runs of ~ok no longer than max_gap with a fitted
    frame on both sides. Returns the filled params and the mask of interpolated frames."""
    params = params.copy()
    filled = np.zeros(len(ok), bool)
    for start, stop in runs(~ok):
        if start == 0 or stop == len(ok) or stop - start > max_gap:
            continue
        t = (np.arange(start, stop) - (start - 1)) / (stop - (start - 1))
        params[start:stop] = (1 - t)[:, None] * params[start - 1] + t[:, None] * params[stop]
        filled[start:stop] = True
    return params, filled


def fit_driving(model, landmarks: np.ndarray, confidences: np.ndarray, size: tuple[int, int], fps: float, *,
                identity_lambda: float = 3.0, fit_iterations: int = 3, smoothing: float = 1.0, max_gap: int = 8) -> DrivingTrack:
    """Fits the driving frames' landmarks (T, 68, 2) (see the module docstring)."""
    lms = np.asarray(landmarks, np.float32)
    conf = np.asarray(confidences, np.float32)
    if lms.ndim != 3 or lms.shape[1:] != (68, 2) or conf.shape != lms.shape[:2]:
        raise ValueError(f"landmarks must be (T, 68, 2) and confidences (T, 68), got {lms.shape} and {conf.shape}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if not (np.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"smoothing must be 0 (off) or more, got {smoothing}")
    if max_gap < 0:
        raise ValueError(f"max_gap must be 0 or more, got {max_gap}")
    seen = np.flatnonzero(face_found(lms))
    if len(seen) == 0:
        raise InputError("no face was found in any driving frame; check the video, or try another --detector")
    sample = seen[np.linspace(0, len(seen) - 1, min(20, len(seen))).astype(int)]
    driver = fit_reference(model, lms[sample], size, conf[sample], identity_lambda)
    fits = fit(model, lms, size, FitOptions(num_iterations=fit_iterations), confidences=conf, min_confidence=MIN_CONFIDENCE,
               shape_coeffs=driver.shape_coeffs[0], sequential=True, on_failure="nan")
    k = model.num_expression_coefficients
    params = np.concatenate([fits.yaw_pitch_roll, fits.scale[:, None], fits.translation, fits.expression_coeffs], 1)
    params, interpolated = _fill_gaps(params.astype(np.float64), fits.ok, max_gap)
    valid = fits.ok | interpolated
    params = smooth(params, valid, fps, smoothing)
    ypr = params[:, :3].astype(np.float32)
    rotation = _core.rotations_from_yaw_pitch_roll(np.nan_to_num(ypr))
    rotation[~valid] = np.nan
    cameras = Cameras(expression_coeffs=params[:, 6 : 6 + k].astype(np.float32), rotation=rotation,
                      scale=params[:, 3].astype(np.float32), translation=params[:, 4:6].astype(np.float32), yaw_pitch_roll=ypr,
                      image_size=np.tile(np.asarray(size, np.int32), (len(lms), 1)), ok=valid)
    return DrivingTrack(lms, conf, (int(size[0]), int(size[1])), float(fps), driver, cameras, valid, interpolated)
