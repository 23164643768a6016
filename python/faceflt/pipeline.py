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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .driving import MIN_CONFIDENCE, DrivingTrack, detect_driving, fit_driving, fit_reference
from .errors import InputError
from .flt import Mode, Reference, flt_landmarks
from .io import ReadAhead, open_frames, read_image
from .model import load_model
from .options import TransformOptions, TransformResult
from .outputs import check_output, debug_video, output_folder, write_formats
from .plugins import (
    Detections,
    OutputContext,
    available_detectors,
    available_writers,
    close_detector,
    get_plugin_manager,
    make_detector,
)
from .plugins.manager import check_writer_options
from .plugins.types import checked

__all__ = ["Mode", "Pipeline", "TransformOptions", "TransformResult", "transform"]

READ_AHEAD_BYTES = 128 << 20
"""Decoded driving frames held ready beyond those the detector holds (185 frames of 480 x 480, 21 of 1080 x 1920)."""
MIN_REFERENCE_EYES = 12
"""Pixels between the reference face's outer eye corners below which its landmarks say too little of its shape."""


class Pipeline:
    """Runs the transform; ``Pipeline(options).run(references, driving, out)``."""

    def __init__(self, options: TransformOptions = TransformOptions(), pm=None) -> None:
        """``pm``: the pluggy plugin manager to take detectors and formats from (default: a new one, loading the
        'faceflt' entry points once for this pipeline)."""
        self.pm = pm or get_plugin_manager()
        known = available_writers(self.pm)
        if "mediapipe" in options.formats:
            raise ValueError("format 'mediapipe' draws a 468-point mesh; transform makes 68-point landmarks. Choose from "
                             + ", ".join(sorted(set(known) - {"mediapipe"})))
        unknown = [f for f in options.formats if f not in known]
        if unknown:
            raise ValueError(f"unknown output format {', '.join(map(repr, unknown))}; available: {', '.join(sorted(known))} "
                             "(`faceflt plugins` lists them)")
        stray = [f for f in options.format_options if f not in options.formats]
        if stray:
            raise ValueError(f"options are given for format {', '.join(map(repr, stray))}, which is not among the formats "
                             f"written ({', '.join(options.formats) or 'none'})")
        typed = {f: check_writer_options(f, dict(options.format_options.get(f, {})), self.pm) for f in options.formats}
        self.options = replace(options, format_options={f: given for f, given in typed.items() if given})

    # ---- the stages

    def _reference(self, model, detector, references: Sequence[str | Path], name: str):
        images = [read_image(p) for p in references]
        found = checked(detector.detect(images), name, len(images))
        for path, ok, count in zip(references, found.found, found.num_faces if found.num_faces is not None else [1] * len(images)):
            if not ok:
                raise InputError(f"{path}: no face found in the reference picture; use a picture where the face is clearly "
                                 "visible (frontal or three-quarter view), or another --detector")
            if count > 1:
                raise InputError(f"{path}: {count} faces in the reference picture; crop it to the one person to animate")
        eyes = np.linalg.norm(found.landmarks[:, 45] - found.landmarks[:, 36], axis=-1)
        for path, eye in zip(references, eyes):
            if not np.isfinite(eye):
                raise InputError(f"{path}: the outer eye corners were not found in the reference picture; use a picture where "
                                 "both eyes are visible")
            if eye < MIN_REFERENCE_EYES:
                raise InputError(f"{path}: the face in the reference picture is too small ({eye:.0f} px between the outer eye "
                                 f"corners, at least {MIN_REFERENCE_EYES} needed) to take its shape from; use a larger picture")
        sizes = np.array([(im.shape[1], im.shape[0]) for im in images], np.int32)
        fitted = fit_reference(model, found.landmarks, sizes, found.confidences, self.options.identity_lambda)
        landmarks = np.where((found.confidences >= MIN_CONFIDENCE)[..., None], found.landmarks, np.nan).astype(np.float32)
        return Reference(landmarks, fitted, tuple(images)), found

    def prepare(self, references: str | Path | Sequence[str | Path], driving: str | Path) -> Prepared:
        """Steps 1-3: the reference identity, the driving detections and fits (shared by all modes)."""
        o = self.options
        references, driving = _paths(references, driving)
        source = open_frames(driving)
        # the video decodes while the model and the detector load and the reference is fitted (a core idles then);
        # leaving the block stops the decoding however the preparation ends
        with ReadAhead(source, READ_AHEAD_BYTES, stop_at=o.max_frames) as frames:
            model = load_model(o.model_dir)
            detector = make_detector(o.detector, self.pm, **o.detector_options)
            try:
                spec = available_detectors(self.pm)[o.detector]
                ref_name = o.reference_detector or (o.detector if spec.uses_images else "dlib")
                if o.reference_detector or o.reference_detector_options or not spec.uses_images:
                    ref_detector = make_detector(ref_name, self.pm, **o.reference_detector_options)
                else:
                    ref_detector = detector
                try:
                    reference, ref_found = self._reference(model, ref_detector, references, ref_name)
                finally:
                    if ref_detector is not detector:
                        close_detector(ref_detector)
                if o.retarget_body and (ref_found.body is None or np.isnan(ref_found.body[0]).all()):
                    raise InputError(f"--retarget-body needs the reference's body; the reference picture's detector "
                                     f"'{ref_name}' found none (use a whole-body one: --reference-detector holistic or dwpose)")
                try:
                    detections = detect_driving(frames, detector, o.redetect_interval, o.max_frames, o.progress, spec=spec,
                                                total=source.frame_count)
                except InputError as e:  # the decoder's own errors name the file already
                    raise InputError(str(e) if str(e).startswith(f"{source.path}:") else f"{source.path}: {e}") from None
                track = fit_driving(model, detections.landmarks, detections.confidences, (source.width, source.height),
                                    o.fps or source.rate, identity_lambda=o.identity_lambda, fit_iterations=o.fit_iterations,
                                    smoothing=o.smoothing, max_gap=o.max_gap)
            except BaseException:
                close_detector(detector)
                raise
        return Prepared(source, model, detector, reference, ref_found, detections, track)

    def landmarks(self, p: Prepared, mode: Mode | str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Step 4: the FLT landmarks (T, 68, 2) of one mode (default: the options'), NaN where no face, and
        the valid mask (T,)."""
        flt = flt_landmarks(p.model, self.options.mode if mode is None else mode, p.reference, p.track,
                            smoothing=self.options.smoothing, detector=p.detector, progress=self.options.progress)
        return flt, p.track.valid & np.isfinite(flt).all((1, 2))

    def run(self, references: str | Path | Sequence[str | Path], driving: str | Path, out: str | Path) -> TransformResult:
        """Steps 1-5; the outputs appear in ``out`` whole, or not at all."""
        o = self.options
        started = time.perf_counter()
        references, driving = _paths(references, driving)
        if not isinstance(out, (str, Path)):
            raise TypeError(f"out must be a folder's path (str or Path), got {out!r}")
        if not str(out):
            raise InputError("--out is empty; name the output folder")
        out = Path(out)
        given = [*o.detector_options.values(), *o.reference_detector_options.values()]  # e.g. a keypoint file
        check_output(out, o.overwrite, [*references, driving, *(v for v in given if isinstance(v, (str, Path)) and v)])
        p = self.prepare(references, driving)
        source, detections, fps = p.source, p.detections, p.track.fps
        try:
            flt, valid = self.landmarks(p)  # the last use of the detector (redetect)
        finally:
            close_detector(p.detector)
        interpolated = p.track.interpolated
        if o.retarget_body:
            from .retarget import retarget

            body, flt, hands = retarget(p.ref_found.body[0], detections.body, flt, detections.hands)
            detections = replace(detections, body=body, hands=hands)
        status = ["interpolated" if interpolated[i] else "fitted" if valid[i] else "missing" for i in range(len(flt))]
        context = OutputContext(fps=fps, image_size=(source.width, source.height), stem=source.path.stem,
                                video=source.kind != "image")
        with output_folder(out, o.overwrite) as tmp:
            np.savez(tmp / "landmarks.npz", landmarks=flt.astype(np.float32), driving_landmarks=detections.landmarks,
                     valid=valid, interpolated=interpolated, fps=np.float64(fps), image_size=np.asarray(p.track.size, np.int32),
                     mode=np.str_(o.mode.value), reference_shape=p.reference.fit.shape_coeffs[0],
                     driver_shape=p.track.driver.shape_coeffs[0], yaw_pitch_roll=p.track.cameras.yaw_pitch_roll,
                     expression=p.track.cameras.expression_coeffs)
            written = [tmp / "landmarks.npz", *write_formats(tmp, o.formats, context, flt, detections, status, self.pm,
                                                             o.draw_resolution, o.progress, o.format_options)]
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
        found = int(p.detections.found.sum())
        damage = ""
        if source.lost:
            damage += f" {source.lost} frames could not be decoded (corrupt); they are kept as rows without a face."
        resized = sum(i < len(flt) for i in source.resized)  # not a frame read past --max-frames
        if resized:
            damage += (f" {resized} frames of another size than the first were resized to {source.width}x{source.height}, "
                       "so that every frame's points are in the same pixels.")
        if source.missing_at_end and o.max_frames is None:
            declared = "declares" if source.counted else "implies by its duration"
            damage += (f" Warning: the video ended {source.missing_at_end} frames before the {source.frame_count} its container "
                       f"{declared}; the file may be truncated.")
        rate = f", {fps:.2f} fps" if source.kind != "image" else ""
        body = p.detections.body
        bodies = 0 if body is None else int(np.isfinite(body).all(-1).any(-1).sum())
        if bodies:
            damage += f" A body in {bodies} frame{'s' if bodies != 1 else ''}."
        elif available_detectors(self.pm)[o.detector].whole_body:
            damage += f" No body: detector '{o.detector}' found none in any frame (a close-up?), so the pose outputs hold the face alone."
        else:
            damage += (f" No body: detector '{o.detector}' gives faces only, so the pose outputs hold the face alone "
                       "(--detector holistic or dwpose find the body and hands).")
        return (f"{len(flt)} driving frames ({source.width}x{source.height}{rate}): a face detected in {found}, "
                f"{int(p.track.interpolated.sum())} interpolated across short gaps, {int((~valid).sum())} without a face; "
                f"FLT mode '{o.mode.value}', detector '{o.detector}', {seconds:.1f} s.{damage} "
                f"Outputs in {out}: {', '.join(q.name for q in outputs)}.")


def _paths(references: str | Path | Sequence[str | Path], driving: str | Path) -> tuple[list[str | Path], str | Path]:
    """The reference picture(s) as a list of paths (one path alone is a list of one) and the driving path, checked."""
    path = lambda p: isinstance(p, (str, Path)) and str(p) != ""
    if isinstance(references, (str, Path)):
        references = [references]
    if isinstance(references, (bytes, np.ndarray)) or not isinstance(references, Sequence) or not all(map(path, references)):
        raise TypeError(f"references must be a picture's path or a list of them (str or Path), got {references!r:.80}")
    if not references:
        raise InputError("at least one --reference picture is needed")
    if not path(driving):
        raise TypeError(f"driving must be a video's, a picture's or a folder's path (str or Path), got {driving!r:.80}")
    return list(references), driving


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
              options: TransformOptions = TransformOptions(), *, pm: Any = None, **overrides: Any) -> TransformResult:
    """Reference picture(s) + driving video (or image, or folder of frames) -> FLT conditions in ``out``.

    ``overrides`` replace fields of ``options``, e.g. ``transform("a.jpg", "b.mp4", "out", mode="project")``.
    ``pm``: a plugin manager (``faceflt.plugins.get_plugin_manager()``, then ``pm.register(your_plugin)``) whose
    detectors and formats the job may name; default: the built-in ones and the installed ``faceflt`` entry points.
    """
    if overrides:
        options = replace(options, **overrides)
    return Pipeline(options, pm=pm).run(references, driving, out)
