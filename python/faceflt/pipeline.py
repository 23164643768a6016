"""The main job: reference picture(s) + driving video -> identity-preserving pose conditions.

1. Detect the reference face(s) and fit one identity jointly over them.
2. Stream the driving video once: detect each frame's face, tracking the box from the previous
   frame's landmarks and re-detecting on a schedule or when the track is lost. Only the landmarks are
   kept (a few hundred bytes a frame), never the frames.
3. Fit the driver's own identity over a sample of frames, then every frame's pose and expression
   with that identity held (warm-started from the previous frame). Short gaps without a face are
   interpolated in parameter space and flagged; pose and expression are smoothed without lag.
4. Make the FLT landmarks, one of four ways, all on the same fitted parameters:
   ``delta``: the driver's own landmarks moved by the identity difference,
   driving + P(reference identity) - P(driver identity), under the driving pose and expression;
   it keeps what six blendshapes cannot express (blinks, lip shapes, asymmetry).
   ``residual`` (default): delta, and the part of each identity the model cannot express goes too:
   the driver's landmark residual (detected minus fitted), lifted to 3D offsets over all frames, is
   its static identity beyond the model; it is swapped for the reference's own, lifted from its picture,
   each shown under the frame's pose; what moves (blinks, lip shapes) stays.
   ``project``: the fused face's landmarks, jaw following the silhouette.
   ``redetect`` (the paper's): the fused face rendered with the reference's texture and its landmarks
   detected again with the same detector.
5. Write the outputs to a temporary folder and move it into place at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from . import _core
from .errors import InputError
from .fitting import FitOptions, FitResult, fit, fit_identity, fuse
from .io import open_frames, read_image
from .model import load_model
from .plugins import Detections, PoseFrame, make_detector, make_writer
from .smoothing import smooth
from .tracking import Tracker, bbox

__all__ = ["Pipeline", "TransformOptions", "TransformResult", "transform"]

Mode = Literal["residual", "delta", "project", "redetect"]
MODES = ("residual", "delta", "project", "redetect")


@dataclass(frozen=True)
class TransformOptions:
    """How ``faceflt transform`` works; every field has the CLI flag of the same name."""

    mode: Mode = "residual"
    """How FLT landmarks are made (see the module docstring); 'residual' was best in the evaluation."""
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
    landmark residual that residual and delta modes keep (0: off)."""
    max_gap: int = 8
    """Gaps without a face up to this many frames are interpolated; longer ones stay empty."""
    redetect_interval: int = 30
    """Frames between full face detections while tracking."""
    fit_iterations: int = 3
    """Fitting rounds per driving frame (warm-started from the previous frame)."""
    identity_lambda: float = 3.0
    """Shape prior weight of the reference and driver identity fits (eos's default is 30). Measured on
    the real pairs: 1, 3 and 10 score alike (identity transfer 0.83, 0.80, 0.82 before the residual
    filter); 30 keeps the shapes nearer the mean face (0.27 vs 0.32 on the first, 2D metric)."""
    retarget_body: bool = False
    """Give the driving body the reference's limb proportions and move the FLT face and hands with it
    (needs a whole-body detector: dwpose, or keypoints files with bodies)."""
    debug_video: bool = False
    """Also write <name>_debug.mp4: driving frame | driving landmarks | FLT landmarks | textured render."""
    overwrite: bool = False
    """Replace an existing output folder."""
    progress: bool = True


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


class _Progress:
    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.start = time.perf_counter()
        self.done = 0

    def step(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total} frames, {rate:5.1f} frames/s, ETA {eta:4.0f} s ")
        else:
            sys.stderr.write(f"\r{self.label}: {self.done} frames, {rate:5.1f} frames/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _fused_chunks(model, reference: FitResult, cameras: FitResult, guides: np.ndarray, frames: np.ndarray, size: int = 32):
    """Yields (frame indices, FusedResult with meshes) block by block, so that only a block of meshes
    (3448 x 3 floats a frame) is held, whatever the length of the video."""
    for start in range(0, len(frames), size):
        chunk = np.asarray(frames[start : start + size])
        yield chunk, fuse(model, reference.shape_coeffs[0], cameras.select(chunk), guides=guides[chunk], return_mesh=True)


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2], edges[1::2]))


def _fill_gaps(params: np.ndarray, ok: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of params (T, D) across runs of ~ok no longer than max_gap with a fitted
    frame on both sides. Returns the filled params and the mask of interpolated frames."""
    params = params.copy()
    filled = np.zeros(len(ok), bool)
    for start, stop in _segments(~ok):
        if start == 0 or stop == len(ok) or stop - start > max_gap:
            continue
        t = (np.arange(start, stop) - (start - 1)) / (stop - (start - 1))
        params[start:stop] = (1 - t)[:, None] * params[start - 1] + t[:, None] * params[stop]
        filled[start:stop] = True
    return params, filled


class Pipeline:
    """Runs the transform; ``Pipeline(options).run(references, driving, out)``."""

    def __init__(self, options: TransformOptions = TransformOptions()) -> None:
        if options.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {options.mode!r}")
        if "mediapipe" in options.formats:
            raise ValueError("format 'mediapipe' draws a 468-point mesh; transform makes 68-point landmarks. "
                             "Choose from dwpose, mimicmotion, openpose, npz")
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
        reference = fit_identity(model, found.landmarks, sizes, self._identity_options(), confidences=found.confidences,
                                 min_confidence=0.3)
        return images, reference, found

    def _identity_options(self) -> FitOptions:
        return FitOptions(lambda_identity=self.options.identity_lambda, num_iterations=10)

    def _detect_driving(self, source, detector, progress: _Progress):
        tracker = Tracker(detector, self.options.redetect_interval)
        rows: dict[str, list[np.ndarray]] = {k: [] for k in ("landmarks", "confidences", "body", "body_scores", "hands", "hand_scores")}
        for index, frame in source:
            if self.options.max_frames is not None and index >= self.options.max_frames:
                break
            found = tracker.detect(frame)
            lms = np.where(np.isfinite(found.landmarks[0]), found.landmarks[0], np.nan).astype(np.float32)
            rows["landmarks"].append(lms)
            rows["confidences"].append(found.confidences[0])
            for key, shape in (("body", (18, 2)), ("body_scores", (18,)), ("hands", (2, 21, 2)), ("hand_scores", (2, 21))):
                value = getattr(found, key)
                rows[key].append(np.full(shape, np.nan if "scores" not in key else 0.0, np.float32) if value is None else value[0])
            progress.step()
        if not rows["landmarks"]:
            raise InputError(f"{source.path}: no frames were read")
        return {k: np.stack(v) for k, v in rows.items()}

    def _fit_driving(self, model, detections: dict, size: tuple[int, int], fps: float):
        lms, conf = detections["landmarks"], detections["confidences"]
        seen = np.flatnonzero(np.isfinite(lms).all(-1).sum(-1) >= 20)
        if len(seen) == 0:
            raise InputError("no face was found in any driving frame; check the video, or try another --detector")
        sample = seen[np.linspace(0, len(seen) - 1, min(20, len(seen))).astype(int)]
        driver = fit_identity(model, lms[sample], size, self._identity_options(), confidences=conf[sample], min_confidence=0.3)
        fits = fit(model, lms, size, FitOptions(num_iterations=self.options.fit_iterations), confidences=conf,
                   min_confidence=0.3, shape_coeffs=driver.shape_coeffs[0], sequential=True, on_failure="nan")
        k = model.num_expression_coefficients
        params = np.concatenate([fits.yaw_pitch_roll, fits.scale[:, None], fits.translation, fits.expression_coeffs], 1)
        params, interpolated = _fill_gaps(params.astype(np.float64), fits.ok, self.options.max_gap)
        valid = fits.ok | interpolated
        params = smooth(params, valid, fps or 30.0, self.options.smoothing)
        ypr = params[:, :3].astype(np.float32)
        rotation = _core.rotations_from_yaw_pitch_roll(np.nan_to_num(ypr))
        rotation[~valid] = np.nan
        t = len(lms)
        cameras = FitResult(
            shape_coeffs=np.repeat(driver.shape_coeffs[:1], t, 0), expression_coeffs=params[:, 6 : 6 + k].astype(np.float32),
            rotation=rotation, scale=params[:, 3].astype(np.float32), translation=params[:, 4:6].astype(np.float32),
            yaw_pitch_roll=ypr, projected=fits.projected, image_size=np.tile(np.asarray(size, np.int32), (t, 1)), ok=valid,
            num_landmarks_used=fits.num_landmarks_used)
        return driver, cameras, valid, interpolated

    def _flt(self, model, reference: FitResult, reference_landmarks: np.ndarray, driver: FitResult, cameras: FitResult,
             driving_lms: np.ndarray, ref_images, detector, size, mode: Mode, fps: float = 30.0) -> np.ndarray:
        guides = driving_lms
        if mode == "project":
            return fuse(model, reference.shape_coeffs[0], cameras, guides=guides).landmarks
        if mode in ("delta", "residual"):
            # The driver's fusion picks the jaw vertices; the reference's uses the same ones, so the
            # two differ by identity only.
            theirs = fuse(model, driver.shape_coeffs[0], cameras, guides=guides)
            ours = fuse(model, reference.shape_coeffs[0], cameras, vertex_ids=theirs.vertex_ids)
            residual = driving_lms - theirs.landmarks  # what the model does not explain of each driving frame
            if mode == "residual":
                # Lifted to 3D offsets in model space, the driver's residual has a static part (its
                # identity beyond the model, seen from all frames' poses) and a moving part (blinks, lip
                # shapes...). The static part is swapped for the reference's own residual, lifted from its
                # picture; both are shown under each frame's pose, so a turned head foreshortens them.
                ok = cameras.ok & np.isfinite(residual).all((1, 2))
                rot = np.nan_to_num(cameras.rotation)
                static = _core.lift_residuals(residual[ok], rot[ok], cameras.scale[ok])
                ref_residual = reference_landmarks[:1] - reference.projected[:1]
                ref_static = _core.lift_residuals(ref_residual, reference.rotation[:1], reference.scale[:1])
                swap = np.nan_to_num(ref_static) - np.nan_to_num(static)
                residual = residual + _core.project_offsets(swap, rot, np.nan_to_num(cameras.scale))
            # The residual carries the detector's frame-to-frame noise: a light zero-lag filter (10 Hz
            # minimum cutoff at the default strength, fast moves pass) takes it out and keeps blinks
            # (measured: jitter 1.04 -> 0.76 of the driver's, expression fidelity 0.97 -> 0.965).
            seen = np.isfinite(residual).all((1, 2))
            filtered = smooth(np.nan_to_num(residual).reshape(len(residual), -1), seen, fps, 0.1 * self.options.smoothing)
            residual = np.where(seen[:, None, None], filtered.reshape(residual.shape), np.nan)
            moved = ours.landmarks + residual
            # where the driver's landmarks are missing (interpolated frames), the projection stands in
            return np.where(np.isfinite(moved), moved, ours.landmarks).astype(np.float32)
        return self._redetect(model, reference, cameras, guides, ref_images, detector, size)

    def _redetect(self, model, reference, cameras, guides, ref_images, detector, size) -> np.ndarray:
        from .render import Renderer

        renderer = Renderer(model, size)
        renderer.set_reference(ref_images[0], reference, 0)
        out = np.full_like(guides, np.nan)
        valid = np.flatnonzero(cameras.ok)
        progress = _Progress("re-detecting", len(valid), self.options.progress)
        for chunk, fused in _fused_chunks(model, reference, cameras, guides, valid):
            renders = renderer.render_batch(fused.vertices, cameras.select(chunk)).rgba[..., :3]
            # The face box is known (the projected fused face), so face detection is skipped on the render.
            boxes = np.stack([bbox(face) for face in fused.landmarks])
            out[chunk] = detector.detect(list(renders), boxes=boxes).landmarks
            progress.step(len(chunk))
        progress.close()
        return out

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
        stem = source.path.stem
        video = source.kind != "image"
        targets = {
            "dwpose": tmp / (f"{stem}_kps.mp4" if video else "dwpose"),
            "mimicmotion": tmp / (f"{stem}_mimicmotion.mp4" if video else "mimicmotion"),
            "openpose": tmp / "openpose",
            "npz": tmp / "keypoints.npz",
        }
        written = []
        size = (source.width, source.height)
        for name in self.options.formats:
            target = targets.get(name, tmp / name)
            options = {"fps": fps} if name in ("dwpose", "mimicmotion") and video else {}
            writer = make_writer(name, target, **options)
            try:
                for i in range(len(flt)):
                    writer.write(self._frame_for(i, size, flt[i], detections, status[i]))
            finally:
                writer.close()
            written.append(target)
        return written

    def _debug_video(self, path: Path, source, flt, driving_lms, model, reference, cameras, ref_images, fps) -> None:
        import cv2

        from .plugins.builtin.dwpose_image import FrameSink
        from .render import Renderer

        renderer = Renderer(model, (source.width, source.height))
        renderer.set_reference(ref_images[0], reference, 0)
        meshes = {}
        chunks = _fused_chunks(model, reference, cameras, driving_lms, np.arange(len(flt)))
        sink = FrameSink(path, fps or 30.0)
        try:
            for i, frame in source:
                if i >= len(flt):
                    break
                if i not in meshes:  # the next block of fused meshes, as the video reaches it
                    chunk, fused = next(chunks)
                    meshes = dict(zip(chunk.tolist(), fused.vertices))
                panels = [frame, frame.copy(), frame.copy(), np.zeros_like(frame)]
                for panel, pts, colour in ((panels[1], driving_lms[i], (255, 64, 64)), (panels[2], flt[i], (64, 255, 64))):
                    for x, y in pts[np.isfinite(pts).all(1)]:
                        cv2.circle(panel, (int(x), int(y)), 2, colour, -1)
                if cameras.ok[i]:
                    panels[3] = renderer.render(meshes[i], cameras, i, background=frame).rgba[0, ..., :3]
                row = np.concatenate(panels, 1)
                sink.write(i, row[: row.shape[0] // 2 * 2, : row.shape[1] // 2 * 2])
        finally:
            sink.close()

    def prepare(self, references: Sequence[str | Path], driving: str | Path) -> "Prepared":
        """Steps 1-3: the reference identity, the driving detections and fits (shared by all modes)."""
        o = self.options
        if not references:
            raise InputError("at least one --reference picture is needed")
        source = open_frames(driving)
        model = load_model(o.model_dir)
        detector = make_detector(o.detector, **o.detector_options)
        if o.reference_detector:
            ref_detector = make_detector(o.reference_detector)
        else:
            ref_detector = detector if getattr(detector, "uses_images", True) else make_detector("dlib")
        ref_images, reference, ref_found = self._reference(model, ref_detector, references)
        if o.retarget_body and (ref_found.body is None or np.isnan(ref_found.body[0]).all()):
            raise InputError(f"--retarget-body needs the reference's body; detector '{o.detector}' found none "
                             "(use a whole-body detector: dwpose, or keypoints files with bodies)")
        total = source.frame_count if o.max_frames is None else min(source.frame_count or o.max_frames, o.max_frames)
        progress = _Progress("detecting", total, o.progress)
        detections = self._detect_driving(source, detector, progress)
        progress.close()
        size = (source.width, source.height)
        driver, cameras, valid, interpolated = self._fit_driving(model, detections, size, source.fps)
        return Prepared(source, model, detector, ref_images, reference, ref_found, detections, driver, cameras, valid,
                        interpolated, size)

    def landmarks(self, p: "Prepared", mode: Mode | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Step 4: the FLT landmarks (T, 68, 2) of one mode (default: the options'), NaN where no face, and
        the valid mask (T,)."""
        mode = mode or self.options.mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        flt = self._flt(p.model, p.reference, p.ref_found.landmarks, p.driver, p.cameras, p.detections["landmarks"],
                        p.ref_images, p.detector, p.size, mode, p.source.fps or 30.0)
        flt[~p.valid] = np.nan
        return flt, p.valid & np.isfinite(flt).all((1, 2))

    def run(self, references: Sequence[str | Path], driving: str | Path, out: str | Path) -> TransformResult:
        o = self.options
        started = time.perf_counter()
        out = Path(out)
        if out.exists() and not o.overwrite:
            raise InputError(f"{out}: the output folder exists; choose another --out or pass --overwrite")
        p = self.prepare(references, driving)
        source, detections, fps = p.source, p.detections, p.source.fps
        flt, valid = self.landmarks(p)
        interpolated = p.interpolated
        if o.retarget_body:
            from .retarget import retarget

            detections["body"], flt, detections["hands"] = retarget(p.ref_found.body[0], detections["body"], flt, detections["hands"])

        tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            np.savez(tmp / "landmarks.npz", landmarks=flt.astype(np.float32), driving_landmarks=detections["landmarks"],
                     valid=valid, interpolated=interpolated, fps=np.float64(fps), image_size=np.asarray(p.size, np.int32),
                     mode=np.str_(o.mode), reference_shape=p.reference.shape_coeffs[0], driver_shape=p.driver.shape_coeffs[0],
                     yaw_pitch_roll=p.cameras.yaw_pitch_roll, expression=p.cameras.expression_coeffs)
            status = ["interpolated" if interpolated[i] else "fitted" if valid[i] else "missing" for i in range(len(flt))]
            written = [tmp / "landmarks.npz", *self._write(tmp, source, flt, detections, fps, status)]
            if o.debug_video:
                self._debug_video(tmp / f"{source.path.stem}_debug.mp4", source, flt, detections["landmarks"], p.model,
                                  p.reference, p.cameras, p.ref_images, fps)
                written.append(tmp / f"{source.path.stem}_debug.mp4")
            if out.exists():
                shutil.rmtree(out)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        outputs = tuple(out / q.relative_to(tmp) for q in written)
        found = int(np.isfinite(detections["landmarks"]).all(-1).any(-1).sum())
        summary = (f"{len(flt)} driving frames ({source.width}x{source.height}, {fps:.2f} fps): a face detected in {found}, "
                   f"{int(interpolated.sum())} interpolated across short gaps, {int((~valid).sum())} without a face; "
                   f"FLT mode '{o.mode}', detector '{o.detector}', {time.perf_counter() - started:.1f} s. "
                   f"Outputs in {out}: {', '.join(q.name for q in outputs)}.")
        return TransformResult(landmarks=flt.astype(np.float32), driving_landmarks=detections["landmarks"], valid=valid,
                               interpolated=interpolated, fps=fps, outputs=outputs, summary=summary)


@dataclass
class Prepared:
    """What every mode shares: inputs, the reference and driver identities, the driving fits."""

    source: Any
    model: Any
    detector: Any
    ref_images: list
    reference: FitResult
    ref_found: Detections
    detections: dict
    driver: FitResult
    cameras: FitResult
    valid: np.ndarray
    interpolated: np.ndarray
    size: tuple[int, int]


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
