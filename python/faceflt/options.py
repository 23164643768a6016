"""What a transform job is asked (TransformOptions, checked when made) and what it gives back (TransformResult)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .flt import Mode

__all__ = ["TransformOptions", "TransformResult"]


@dataclass(frozen=True)
class TransformOptions:
    """How ``faceflt transform`` works. A field ``x_y`` is the CLI flag ``--x-y``, whose default is taken from here;
    except ``formats`` (``--format``, comma-separated), ``detector_options`` and ``reference_detector_options``
    (``--detector-option`` / ``--reference-detector-option KEY=VALUE``), ``format_options`` (``--format-option
    FORMAT.KEY=VALUE``) and
    ``progress`` (``--quiet``); ``redetect_interval``, ``fit_iterations`` and ``identity_lambda`` are the API's only."""

    mode: Mode = Mode.RELATIVE
    """How FLT landmarks are made (``faceflt.flt``; a Mode or its name); 'relative' is best in the evaluation."""
    detector: str = "holistic"
    """A detector plugin (``faceflt plugins`` lists them)."""
    detector_options: dict[str, Any] = field(default_factory=dict)
    reference_detector: str | None = None
    """Detector for the reference picture(s); None: the same as ``detector``, or dlib when that one
    replays keypoints from a file instead of looking at images."""
    reference_detector_options: dict[str, Any] = field(default_factory=dict)
    """Options of the reference detector (``--reference-detector-option KEY=VALUE``), e.g. the path of keypoints
    already extracted from the reference picture."""
    formats: tuple[str, ...] = ("dwpose", "openpose", "npz")
    """Output formats (writer plugins); landmarks.npz is always written."""
    format_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Options of the output formats, by format, e.g. ``{"openpose": {"variant": "controlnet"}}``
    (``--format-option openpose.variant=controlnet``); ``context`` and ``fps`` are faceflt's to fill."""
    model_dir: str | None = None
    max_frames: int | None = None
    """Stop after this many driving frames."""
    smoothing: float = 1.0
    """Strength of the zero-lag One-Euro smoothing of pose and expression (1 Hz minimum cutoff at 1), and of
    the low-pass on the driver's landmarks that the relative mode moves (10 Hz / smoothing, none at half the
    frame rate or more; 0: both off; at most 100, where the cutoff is 0.01 Hz and the face hardly moves)."""
    fps: float | None = None
    """Frames per second of the driving frames; None: the video's own (30 for a folder of frames)."""
    draw_resolution: int | None = None
    """Short side, pixels, of the canvas pose images are drawn on before resizing to the frame (None: each format's
    own tool's: 512 for dwpose as Moore-AnimateAnyone, 2160 for mimicmotion; 0: the frame's own size)."""
    max_gap: int = 8
    """Gaps without a face up to this many frames are interpolated; longer ones stay empty."""
    redetect_interval: int = 30
    """Frames between full face detections while tracking."""
    fit_iterations: int = 3
    """Fitting rounds per driving frame (warm-started from the previous frame)."""
    identity_lambda: float = 3.0
    """Shape prior weight of the reference and driver identity fits (eos's default is 30)."""
    retarget_body: bool = False
    """Give the driving body the reference's limb proportions and move the FLT face and hands with it
    (needs a whole-body detector: holistic, the default, dwpose, or keypoints files with bodies)."""
    debug_video: bool = False
    """Also write <name>_debug.mp4: driving frame | driving landmarks | FLT landmarks | textured render."""
    overwrite: bool = False
    """Replace an existing output folder, if it is empty or a faceflt output (holds landmarks.npz), and not the current
    folder or one holding an input."""
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.parse(self.mode))
        _check_number("smoothing", self.smoothing, minimum=0.0, maximum=100.0)
        _check_number("identity_lambda", self.identity_lambda, minimum=0.0)
        _check_whole("max_gap", self.max_gap, minimum=0)
        _check_whole("redetect_interval", self.redetect_interval, minimum=1)
        _check_whole("fit_iterations", self.fit_iterations, minimum=1)
        if self.max_frames is not None:
            _check_whole("max_frames", self.max_frames, minimum=1)
        if self.fps is not None:
            _check_number("fps", self.fps, minimum=1e-3, maximum=1000.0)
        if self.draw_resolution is not None:
            _check_whole("draw_resolution", self.draw_resolution, minimum=0, maximum=8192)
        if isinstance(self.formats, str):
            object.__setattr__(self, "formats", tuple(f.strip() for f in self.formats.split(",") if f.strip()))
        twice = sorted({f for f in self.formats if self.formats.count(f) > 1})
        if twice:
            raise ValueError(f"--format lists {', '.join(twice)} more than once")


def _check_number(name: str, value: Any, minimum: float, maximum: float | None = None) -> None:
    flag = "--" + name.replace("_", "-")
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < minimum
    if bad or (maximum is not None and value > maximum):
        limit = f"from {minimum:g} to {maximum:g}" if maximum is not None else f">= {minimum:g}"
        raise ValueError(f"{flag} must be a finite number {limit}, got {value!r}")


def _check_whole(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    flag = "--" + name.replace("_", "-")
    bad = isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum
    if bad or (maximum is not None and value > maximum):
        limit = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{flag} must be a whole number {limit}, got {value!r}")


@dataclass(frozen=True)
class TransformResult:
    landmarks: np.ndarray
    """float32 (T, 68, 2): the FLT face per frame, pixels in the driving frame; NaN where no face."""
    driving_landmarks: np.ndarray
    """float32 (T, 68, 2): what the detector found; NaN where nothing."""
    valid: np.ndarray
    """bool (T,): frames with an FLT face (detected, or interpolated across a short gap)."""
    interpolated: np.ndarray
    """bool (T,): frames whose face was interpolated across a gap."""
    fps: float
    outputs: tuple[Path, ...]
    summary: str
