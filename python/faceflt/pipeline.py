"""The main job: reference picture(s) + driving video -> identity-preserving pose conditions.

1. Detect the reference face(s) and fit one identity jointly over them.
2. Stream the driving video once: detect each frame's face, tracking the box from the previous
   frame's landmarks and re-detecting on a schedule or when the track is lost. Only the landmarks are
   kept (a few hundred bytes a frame), never the frames (``driving.detect_driving``).
3. Fit the driver's own identity over a sample of frames, then every frame's pose and expression
   with that identity held (``driving.py``).
4. Make the FLT landmarks with one of the modes of ``flt.py`` (``relative`` by default).
5. Write the outputs to a temporary folder and move it into place at the end (``outputs.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .driving import MIN_CONFIDENCE, DrivingTrack, detect_driving, fit_driving, fit_reference
from .errors import InputError
from .flt import Mode, Reference, flt_landmarks
from .io import open_frames, read_image
from .model import load_model
from .outputs import check_output, debug_video, output_folder, write_formats
from .plugins import Detections, OutputContext, available_detectors, available_writers, get_plugin_manager, make_detector

__all__ = ["Mode", "Pipeline", "TransformOptions", "TransformResult", "transform"]


@dataclass(frozen=True)
class TransformOptions:
    """How ``faceflt transform`` works. A field ``x_y`` is the CLI flag ``--x-y``, whose default is taken from here;
    except ``formats`` (``--format``, comma-separated), ``detector_options`` and ``reference_detector_options``
    (``--detector-option`` / ``--reference-detector-option KEY=VALUE``) and
    ``progress`` (``--quiet``); ``redetect_interval``, ``fit_iterations`` and ``identity_lambda`` are the API's only."""

    mode: Mode = Mode.RELATIVE
    """How FLT landmarks are made (``faceflt.flt``; a Mode or its name); 'relative' is best in the evaluation."""
    detector: str = "dlib"
    """A detector plugin (``faceflt plugins`` lists them)."""
    detector_options: dict[str, Any] = field(default_factory=dict)
    reference_detector: str | None = None
    reference_detector_options: dict[str, Any] = field(default_factory=dict)
    """Options of the reference detector (``--reference-detector-option KEY=VALUE``), e.g. the path of keypoints
    already extracted from the reference picture."""
    """Detector for the reference picture(s); None: the same as ``detector``, or dlib when that one
    replays keypoints from a file instead of looking at images."""
    formats: tuple[str, ...] = ("dwpose", "openpose", "npz")
    """Output formats (writer plugins); landmarks.npz is always written."""
    model_dir: str | None = None
    max_frames: int | None = None
    """Stop after this many driving frames."""
    smoothing: float = 1.0
    """Strength of the zero-lag One-Euro smoothing of pose and expression, and (a tenth of it) of the
    driver's landmarks that the relative mode moves (0: off)."""
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
    (needs a whole-body detector: dwpose, or keypoints files with bodies)."""
    debug_video: bool = False
    """Also write <name>_debug.mp4: driving frame | driving landmarks | FLT landmarks | textured render."""
    overwrite: bool = False
    """Replace an existing output folder."""
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.parse(self.mode))
        _check_number("smoothing", self.smoothing, minimum=0.0)
        _check_number("identity_lambda", self.identity_lambda, minimum=0.0)
        _check_whole("max_gap", self.max_gap, minimum=0)
        _check_whole("redetect_interval", self.redetect_interval, minimum=1)
        _check_whole("fit_iterations", self.fit_iterations, minimum=1)
        if self.max_frames is not None:
            _check_whole("max_frames", self.max_frames, minimum=1)
        if self.fps is not None:
            _check_number("fps", self.fps, minimum=1e-3)
        if isinstance(self.formats, str):
            object.__setattr__(self, "formats", tuple(f.strip() for f in self.formats.split(",") if f.strip()))


def _check_number(name: str, value: Any, minimum: float) -> None:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < minimum:
        raise ValueError(f"{flag} must be a finite number >= {minimum:g}, got {value!r}")


def _check_whole(name: str, value: Any, minimum: int) -> None:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{flag} must be a whole number >= {minimum}, got {value!r}")


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


class Pipeline:
    """Runs the transform; ``Pipeline(options).run(references, driving, out)``."""

    def __init__(self, options: TransformOptions = TransformOptions(), pm=None) -> None:
        """``pm``: the pluggy plugin manager to take detectors and formats from (default: a new one, loading the
        'faceflt' entry points once for this pipeline)."""
        self.pm = pm or get_plugin_manager()
        if "mediapipe" in options.formats:
            raise ValueError("format 'mediapipe' draws a 468-point mesh; transform makes 68-point landmarks. "
                             "Choose from dwpose, mimicmotion, openpose, npz")
        known = available_writers(self.pm)
        unknown = [f for f in options.formats if f not in known]
        if unknown:
            raise ValueError(f"unknown output format {', '.join(map(repr, unknown))}; available: {', '.join(sorted(known))} "
                             "(`faceflt plugins` lists them)")
        self.options = options

    # ---- the stages

    def _reference(self, model, detector, references: Sequence[str | Path]):
        images = [read_image(p) for p in references]
        found = detector.detect(images)
        for path, ok, count in zip(references, found.found, found.num_faces if found.num_faces is not None else [1] * len(images)):
            if not ok:
                raise InputError(f"{path}: no face found in the reference picture; use a picture where the face is clearly "
                                 "visible (frontal or three-quarter view), or another --detector")
            if count > 1:
                raise InputError(f"{path}: {count} faces in the reference picture; crop it to the one person to animate")
        sizes = np.array([(im.shape[1], im.shape[0]) for im in images], np.int32)
        fitted = fit_reference(model, found.landmarks, sizes, found.confidences, self.options.identity_lambda)
        landmarks = np.where((found.confidences >= MIN_CONFIDENCE)[..., None], found.landmarks, np.nan).astype(np.float32)
        return Reference(landmarks, fitted, tuple(images)), found

    def prepare(self, references: Sequence[str | Path], driving: str | Path) -> Prepared:
        """Steps 1-3: the reference identity, the driving detections and fits (shared by all modes)."""
        o = self.options
        if not references:
            raise InputError("at least one --reference picture is needed")
        source = open_frames(driving)
        model = load_model(o.model_dir)
        detector = make_detector(o.detector, self.pm, **o.detector_options)
        uses_images = available_detectors(self.pm)[o.detector].uses_images
        if o.reference_detector:
            ref_detector = make_detector(o.reference_detector, self.pm, **o.reference_detector_options)
        else:
            ref_detector = detector if uses_images else make_detector("dlib", self.pm)
        reference, ref_found = self._reference(model, ref_detector, references)
        if o.retarget_body and (ref_found.body is None or np.isnan(ref_found.body[0]).all()):
            raise InputError(f"--retarget-body needs the reference's body; detector '{o.detector}' found none "
                             "(use a whole-body detector: dwpose, or keypoints files with bodies)")
        detections = detect_driving(source, detector, o.redetect_interval, o.max_frames, o.progress, crops=uses_images)
        track = fit_driving(model, detections.landmarks, detections.confidences, (source.width, source.height),
                            o.fps or source.rate, identity_lambda=o.identity_lambda, fit_iterations=o.fit_iterations,
                            smoothing=o.smoothing, max_gap=o.max_gap)
        return Prepared(source, model, detector, reference, ref_found, detections, track)

    def landmarks(self, p: Prepared, mode: Mode | str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Step 4: the FLT landmarks (T, 68, 2) of one mode (default: the options'), NaN where no face, and
        the valid mask (T,)."""
        flt = flt_landmarks(p.model, self.options.mode if mode is None else mode, p.reference, p.track,
                            smoothing=self.options.smoothing, detector=p.detector, progress=self.options.progress)
        return flt, p.track.valid & np.isfinite(flt).all((1, 2))

    def run(self, references: Sequence[str | Path], driving: str | Path, out: str | Path) -> TransformResult:
        """Steps 1-5; the outputs appear in ``out`` whole, or not at all."""
        o = self.options
        started = time.perf_counter()
        out = Path(out)
        check_output(out, o.overwrite)
        p = self.prepare(references, driving)
        source, detections, fps = p.source, p.detections, p.track.fps
        flt, valid = self.landmarks(p)
        interpolated = p.track.interpolated
        if o.retarget_body:
            from dataclasses import replace

            from .retarget import retarget

            body, flt, hands = retarget(p.ref_found.body[0], detections.body, flt, detections.hands)
            detections = replace(detections, body=body, hands=hands)
        status = ["interpolated" if interpolated[i] else "fitted" if valid[i] else "missing" for i in range(len(flt))]
        context = OutputContext(fps=fps, image_size=(source.width, source.height), stem=source.path.stem,
                                video=source.kind != "image")
        with output_folder(out) as tmp:
            np.savez(tmp / "landmarks.npz", landmarks=flt.astype(np.float32), driving_landmarks=detections.landmarks,
                     valid=valid, interpolated=interpolated, fps=np.float64(fps), image_size=np.asarray(p.track.size, np.int32),
                     mode=np.str_(o.mode.value), reference_shape=p.reference.fit.shape_coeffs[0],
                     driver_shape=p.track.driver.shape_coeffs[0], yaw_pitch_roll=p.track.cameras.yaw_pitch_roll,
                     expression=p.track.cameras.expression_coeffs)
            written = [tmp / "landmarks.npz", *write_formats(tmp, o.formats, context, flt, detections, status, self.pm,
                                                             o.draw_resolution, o.progress)]
            if o.debug_video:
                written.append(tmp / f"{source.path.stem}_debug.mp4")
                debug_video(written[-1], source, flt, detections, p.model, p.reference, p.track.cameras, fps, status,
                            o.draw_resolution, o.progress)
        outputs = tuple(out / q.relative_to(tmp) for q in written)
        return TransformResult(landmarks=flt.astype(np.float32), driving_landmarks=detections.landmarks, valid=valid,
                               interpolated=interpolated, fps=fps, outputs=outputs,
                               summary=self._summary(p, flt, valid, out, outputs, time.perf_counter() - started))

    def _summary(self, p: Prepared, flt, valid, out: Path, outputs, seconds: float) -> str:
        o, source, fps = self.options, p.source, p.track.fps
        found = int(np.isfinite(p.detections.landmarks).all(-1).any(-1).sum())
        damage = ""
        if source.lost:
            damage += f" {source.lost} frames could not be decoded (corrupt); they are kept as rows without a face."
        if source.missing_at_end and o.max_frames is None:
            damage += (f" Warning: the video ended {source.missing_at_end} frames before the {source.frame_count} its container "
                       "declares; the file may be truncated.")
        rate = f", {fps:.2f} fps" if source.kind != "image" else ""
        return (f"{len(flt)} driving frames ({source.width}x{source.height}{rate}): a face detected in {found}, "
                f"{int(p.track.interpolated.sum())} interpolated across short gaps, {int((~valid).sum())} without a face; "
                f"FLT mode '{o.mode.value}', detector '{o.detector}', {seconds:.1f} s.{damage} "
                f"Outputs in {out}: {', '.join(q.name for q in outputs)}.")


@dataclass
class Prepared:
    """What every mode shares: inputs, the reference and driver identities, the driving fits."""

    source: Any
    model: Any
    detector: Any
    reference: Reference
    ref_found: Detections
    detections: Detections
    """The driving frames' (T, ...) landmarks, and body and hands where the detector gives them."""
    track: DrivingTrack


def transform(references: str | Path | Sequence[str | Path], driving: str | Path, out: str | Path,
              options: TransformOptions = TransformOptions(), **overrides: Any) -> TransformResult:
    """Reference picture(s) + driving video (or image, or folder of frames) -> FLT conditions in ``out``.

    ``overrides`` replace fields of ``options``, e.g. ``transform("a.jpg", "b.mp4", "out", mode="project")``.
    """
    if isinstance(references, (str, Path)):
        references = [references]
    if overrides:
        from dataclasses import replace

        options = replace(options, **overrides)
    return Pipeline(options).run(references, driving, out)
