"""The main job: reference picture(s) + driving video -> identity-preserving pose conditions.

1. Detect the reference face(s) and fit one identity jointly over them.
2. Stream the driving video once: detect each frame's face, tracking the box from the previous
   frame's landmarks and re-detecting on a schedule or when the track is lost. Only the landmarks are
   kept (a few hundred bytes a frame), never the frames.
3. Fit the driver's own identity over a sample of frames, then every frame's pose and expression
   with that identity held (``driving.py``).
4. Make the FLT landmarks with one of the modes of ``flt.py`` (``relative`` by default).
5. Write the outputs to a temporary folder and move it into place at the end.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .driving import MIN_CONFIDENCE, DrivingTrack, fit_driving, fit_reference
from .errors import InputError
from .flt import Mode, Reference, flt_landmarks, fused_chunks
from .io import open_frames, read_image
from .model import load_model
from .plugins import Detections, OutputContext, PoseFrame, available_writers, get_plugin_manager, make_detector, make_writer
from .progress import Progress
from .tracking import Tracker

__all__ = ["Mode", "Pipeline", "TransformOptions", "TransformResult", "transform"]


@dataclass(frozen=True)
class TransformOptions:
    """How ``faceflt transform`` works. A field ``x_y`` is the CLI flag ``--x-y``, whose default is taken from here;
    except ``formats`` (``--format``, comma-separated), ``detector_options`` (``--detector-option KEY=VALUE``) and
    ``progress`` (``--quiet``); ``redetect_interval``, ``fit_iterations`` and ``identity_lambda`` are the API's only."""

    mode: Mode = Mode.RELATIVE
    """How FLT landmarks are made (``faceflt.flt``; a Mode or its name); 'relative' is best in the evaluation."""
    detector: str = "dlib"
    """A detector plugin (``faceflt plugins`` lists them)."""
    detector_options: dict[str, Any] = field(default_factory=dict)
    reference_detector: str | None = None
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

    def _detect_driving(self, source, detector, progress: Progress):
        tracker = Tracker(detector, self.options.redetect_interval)
        shapes = {"landmarks": (68, 2), "confidences": (68,), "body": (18, 2), "body_scores": (18,), "hands": (2, 21, 2),
                  "hand_scores": (2, 21)}
        missing = {k: np.full(shape, 0.0 if k in ("confidences", "body_scores", "hand_scores") else np.nan, np.float32)
                   for k, shape in shapes.items()}
        rows: dict[str, list[np.ndarray]] = {k: [] for k in shapes}
        for index, frame in source:
            if self.options.max_frames is not None and index >= self.options.max_frames:
                break
            while len(rows["landmarks"]) < index:  # frames that could not be decoded: rows without a face
                for k in shapes:
                    rows[k].append(missing[k])
            found = tracker.detect(frame)
            lms = np.where(np.isfinite(found.landmarks[0]), found.landmarks[0], np.nan).astype(np.float32)
            rows["landmarks"].append(lms)
            rows["confidences"].append(found.confidences[0])
            for key in ("body", "body_scores", "hands", "hand_scores"):
                value = getattr(found, key)
                rows[key].append(missing[key] if value is None else value[0])
            progress.step()
        if not rows["landmarks"]:
            raise InputError(f"{source.path}: no frames were read")
        return {k: np.stack(v) for k, v in rows.items()}

    # ---- outputs

    def _frame_for(self, index: int, size, face: np.ndarray, detections: dict, status: str) -> PoseFrame:
        ok = np.isfinite(face).all(1)
        body = detections["body"][index]
        hands = detections["hands"][index]
        return PoseFrame(index=index, image_size=tuple(int(v) for v in size), face=face,
                         face_scores=ok.astype(np.float32), extra={"status": {"face": status}},
                         body=None if np.isnan(body).all() else body,
                         body_scores=None if np.isnan(body).all() else detections["body_scores"][index],
                         hands=None if np.isnan(hands).all() else hands,
                         hand_scores=None if np.isnan(hands).all() else detections["hand_scores"][index])

    def _write(self, tmp: Path, source, flt: np.ndarray, detections: dict, fps: float, status: list[str]) -> list[Path]:
        """Each format's writer, at the target its spec names, given what its options ask of the context."""
        from dataclasses import fields

        size = (source.width, source.height)
        context = OutputContext(fps=fps, image_size=size, stem=source.path.stem, video=source.kind != "image")
        specs = available_writers(self.pm)
        written = []
        for name in self.options.formats:
            spec = specs[name]
            target = tmp / (spec.target(context) if spec.target else name)
            wants = {f.name for f in fields(spec.options)}
            options: dict[str, Any] = {}
            if "context" in wants:
                options["context"] = context
            if "fps" in wants:
                options["fps"] = fps
            if "draw_resolution" in wants and self.options.draw_resolution is not None:
                options["draw_resolution"] = self.options.draw_resolution
            writer = make_writer(name, target, self.pm, **options)
            bar = Progress(f"writing {name}", len(flt), self.options.progress)
            try:
                for i in range(len(flt)):
                    writer.write(self._frame_for(i, size, flt[i], detections, status[i]))
                    bar.step()
            finally:
                writer.close()
                bar.close()
            written.append(target)
        return written

    def _debug_video(self, path: Path, source, flt, detections: dict, model, reference: Reference, cameras, fps,
                     status: list[str]) -> None:
        """driving frame | driving landmarks | FLT landmarks | the fused face rendered with the reference's texture |
        the pose image as the dwpose format draws it, each panel labelled."""
        import cv2

        from .io import FrameSink
        from .plugins.builtin.dwpose_image import DwposeImageOptions, draw_at
        from .render import Renderer

        driving_lms = detections["landmarks"]
        size = (source.width, source.height)
        renderer = Renderer(model, size)
        renderer.set_reference(reference.images[0], reference.fit, 0)
        meshes: dict = {}
        chunks = fused_chunks(model, reference.fit, cameras, driving_lms, np.arange(len(flt)))
        sink = FrameSink(path, fps)
        bar = Progress("debug video", len(flt), self.options.progress)
        labels = ("driving", "driving landmarks", "FLT landmarks", "render (reference texture)", "pose image written")
        try:
            for i, frame in source:
                if i >= len(flt):
                    break
                while i not in meshes:  # the next block of fused meshes, as the video reaches it
                    chunk, fused = next(chunks)
                    meshes = dict(zip(chunk.tolist(), fused.vertices))
                panels = [frame, frame.copy(), frame.copy(), np.zeros_like(frame)]
                for panel, pts, colour in ((panels[1], driving_lms[i], (255, 64, 64)), (panels[2], flt[i], (64, 255, 64))):
                    for x, y in pts[np.isfinite(pts).all(1)]:
                        cv2.circle(panel, (int(x), int(y)), 2, colour, -1)
                if cameras.ok[i]:
                    panels[3] = renderer.render(meshes[i], cameras, i, background=frame).rgba[0, ..., :3]
                pose = self._frame_for(i, size, flt[i], detections, status[i])
                resolution = DwposeImageOptions().draw_resolution if self.options.draw_resolution is None else self.options.draw_resolution
                panels.append(draw_at(pose, resolution))
                panels = [np.ascontiguousarray(panel) for panel in panels]
                scale = max(size) / 640
                for panel, label in zip(panels, labels):
                    cv2.putText(panel, label, (8, int(24 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 0),
                                max(1, int(2 * scale)), cv2.LINE_AA)
                row = np.concatenate(panels, 1)
                sink.write(i, row[: row.shape[0] // 2 * 2, : row.shape[1] // 2 * 2])
                bar.step()
        finally:
            sink.close()
            bar.close()

    def prepare(self, references: Sequence[str | Path], driving: str | Path) -> Prepared:
        """Steps 1-3: the reference identity, the driving detections and fits (shared by all modes)."""
        o = self.options
        if not references:
            raise InputError("at least one --reference picture is needed")
        source = open_frames(driving)
        model = load_model(o.model_dir)
        detector = make_detector(o.detector, self.pm, **o.detector_options)
        if o.reference_detector:
            ref_detector = make_detector(o.reference_detector, self.pm)
        else:
            ref_detector = detector if getattr(detector, "uses_images", True) else make_detector("dlib", self.pm)
        reference, ref_found = self._reference(model, ref_detector, references)
        if o.retarget_body and (ref_found.body is None or np.isnan(ref_found.body[0]).all()):
            raise InputError(f"--retarget-body needs the reference's body; detector '{o.detector}' found none "
                             "(use a whole-body detector: dwpose, or keypoints files with bodies)")
        total = source.frame_count if o.max_frames is None else min(source.frame_count or o.max_frames, o.max_frames)
        progress = Progress("detecting", total, o.progress)
        detections = self._detect_driving(source, detector, progress)
        progress.close()
        track = fit_driving(model, detections["landmarks"], detections["confidences"], (source.width, source.height),
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
        o = self.options
        started = time.perf_counter()
        out = Path(out)
        if out.exists() and not o.overwrite:
            raise InputError(f"{out}: the output folder exists; choose another --out or pass --overwrite")
        for parent in (out.parent, *out.parent.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise InputError(f"{out}: {parent} is a file, not a folder; choose another --out")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise InputError(f"{out}: the folder {parent} is not writable; choose another --out")
                break
        p = self.prepare(references, driving)
        source, detections, fps = p.source, p.detections, p.track.fps
        flt, valid = self.landmarks(p)
        interpolated = p.track.interpolated
        if o.retarget_body:
            from .retarget import retarget

            detections["body"], flt, detections["hands"] = retarget(p.ref_found.body[0], detections["body"], flt, detections["hands"])

        tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            np.savez(tmp / "landmarks.npz", landmarks=flt.astype(np.float32), driving_landmarks=detections["landmarks"],
                     valid=valid, interpolated=interpolated, fps=np.float64(fps), image_size=np.asarray(p.track.size, np.int32),
                     mode=np.str_(o.mode.value), reference_shape=p.reference.fit.shape_coeffs[0],
                     driver_shape=p.track.driver.shape_coeffs[0], yaw_pitch_roll=p.track.cameras.yaw_pitch_roll,
                     expression=p.track.cameras.expression_coeffs)
            status = ["interpolated" if interpolated[i] else "fitted" if valid[i] else "missing" for i in range(len(flt))]
            written = [tmp / "landmarks.npz", *self._write(tmp, source, flt, detections, fps, status)]
            if o.debug_video:
                self._debug_video(tmp / f"{source.path.stem}_debug.mp4", source, flt, detections, p.model, p.reference,
                                  p.track.cameras, fps, status)
                written.append(tmp / f"{source.path.stem}_debug.mp4")
            if out.exists():
                shutil.rmtree(out)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        outputs = tuple(out / q.relative_to(tmp) for q in written)
        found = int(np.isfinite(detections["landmarks"]).all(-1).any(-1).sum())
        damage = ""
        if source.lost:
            damage += f" {source.lost} frames could not be decoded (corrupt); they are kept as rows without a face."
        if source.missing_at_end and o.max_frames is None:
            damage += (f" Warning: the video ended {source.missing_at_end} frames before the {source.frame_count} its container "
                       "declares; the file may be truncated.")
        rate = f", {fps:.2f} fps" if source.kind != "image" else ""
        summary = (f"{len(flt)} driving frames ({source.width}x{source.height}{rate}): a face detected in {found}, "
                   f"{int(interpolated.sum())} interpolated across short gaps, {int((~valid).sum())} without a face; "
                   f"FLT mode '{o.mode.value}', detector '{o.detector}', {time.perf_counter() - started:.1f} s.{damage} "
                   f"Outputs in {out}: {', '.join(q.name for q in outputs)}.")
        return TransformResult(landmarks=flt.astype(np.float32), driving_landmarks=detections["landmarks"], valid=valid,
                               interpolated=interpolated, fps=fps, outputs=outputs, summary=summary)


@dataclass
class Prepared:
    """What every mode shares: inputs, the reference and driver identities, the driving fits."""

    source: Any
    model: Any
    detector: Any
    reference: Reference
    ref_found: Detections
    detections: dict
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
