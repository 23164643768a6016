"""Landmark-level metrics of an FLT output against the driver it follows and the reference it should look like.

- **Identity features** (shape, not expression, not pose). Each face is first *frontalized*: the model's
  mean face, with expression, is fitted rigidly to its inner landmarks (jaw left out, so where a detector
  puts the jaw points along the outline does not move the camera); each landmark's offset from the mean
  face's landmark under that camera is taken back through the camera's 2x2 image-plane part into the
  model's frontal plane (model units, i.e. millimetres of a face whose size the camera scale removed).
  On that frontal face, relative to the nose bridge and the eye line:
  the jaw outline's x on each side at 7 heights 10..70 mm below the eye line (face width and jaw shape,
  independent of where along the outline the 17 points sit; a side turned more than 10 degrees away
  from the camera is left out, as its points are on the cheek's silhouette), the nose (points 28-36) and
  the eye corners (37, 40, 43, 46). The lower jaw and the mouth are not used: expression moves them.
- **Identity transfer** of an output: how far its identity features moved from the driver's towards
  the reference's, ``t = <f_out - f_drv, f_ref - f_drv> / |f_ref - f_drv|^2`` on medians over the
  quarter of the frames where the driver's mouth (opening, width) is most like the reference picture's,
  since expression moves the jaw outline: 0 still the driver, 1 the reference, < 0 moved away.
  Checked on faces drawn from the model (tests/test_evaluation.py), reference turned 20 degrees from the
  driver: the exact FLT answer scores 0.88 on average over 8 identity pairs (0.5-1.3 per pair: the jaw
  points sit at other places of the outline, and the mean face is not the face), where comparing aligned
  2D landmarks gave 0.04-0.5. So read it as a mean over pairs, not per pair.
- **Expression features** (per frame, in units of the eye-centre distance, after a similarity alignment
  that puts the two eye centres on fixed points): mouth opening (inner lips 62-66, 61-67, 63-65), eye
  openness (upper to lower lid, both eyes), brow raise (brow middle to eye centre, both sides), smile
  width (mouth corners 48-54).
- **Expression fidelity**: the Pearson correlation over time between the output's and the driver's
  expression features, per feature, and their mean (what moves in the driver must move alike in the output).
- **Jitter**: the mean frame-to-frame acceleration of the aligned landmarks (second differences, in eye
  distances), as a ratio output / driver.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..fitting import FitOptions, fit, fuse

EXPRESSION_FEATURES = ("mouth_opening", "eye_openness", "brow_raise", "smile_width")


def _align(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> the same faces with the right eye centre at (0, 0) and the left at (1, 0)."""
    lms = np.asarray(landmarks, np.float64)
    right, left = lms[:, 36:42].mean(1), lms[:, 42:48].mean(1)
    axis = left - right
    scale = np.linalg.norm(axis, axis=1)
    c, s = axis[:, 0] / scale, axis[:, 1] / scale
    rel = lms - right[:, None]
    x = (rel[..., 0] * c[:, None] + rel[..., 1] * s[:, None]) / scale[:, None]
    y = (-rel[..., 0] * s[:, None] + rel[..., 1] * c[:, None]) / scale[:, None]
    return np.stack([x, y], -1)


_FRONTAL_FIT = FitOptions(num_iterations=2, use_contour=False, use_occluding_edge=False)
_JAW_HEIGHTS = np.linspace(-10.0, -70.0, 7)  # model units below the eye line
_NOSE_AND_EYE_CORNERS = [*range(27, 36), 36, 39, 42, 45]


def frontalize(model, landmarks: np.ndarray, image_size) -> tuple[np.ndarray, np.ndarray]:
    """(T, 68, 2) pixels -> the faces in the model's frontal plane (T, 68, 2), model units, and each
    face's yaw (T,), degrees (see the module docstring). NaN where the rigid fit fails."""
    lms = np.asarray(landmarks, np.float32)
    inner = lms.copy()
    inner[:, :17] = np.nan
    mean_shape = np.zeros(model.num_shape_coefficients, np.float32)
    camera = fit(model, inner, image_size, _FRONTAL_FIT, shape_coeffs=mean_shape, on_failure="nan")
    mean_face = fuse(model, mean_shape, camera, guides=lms)
    vertices = np.asarray(model.mean, np.float32).reshape(-1, 3)
    base = vertices[np.clip(mean_face.vertex_ids, 0, None), :2]
    r, s = camera.rotation, camera.scale[:, None, None]
    # d(u, v) / d(x, y) of the model, [[a, b], [c, d]] per face, inverted in closed form (a face seen
    # edge-on, or a failed fit, gives NaN instead of an error)
    a, b, c, d = (s[:, 0, 0] * r[:, 0, 0], s[:, 0, 0] * r[:, 0, 1], -s[:, 0, 0] * r[:, 1, 0], -s[:, 0, 0] * r[:, 1, 1])
    du, dv = np.moveaxis(lms - mean_face.landmarks, -1, 0)
    with np.errstate(all="ignore"):
        det = (a * d - b * c)[:, None]
        offsets = np.stack([(d[:, None] * du - b[:, None] * dv) / det, (a[:, None] * dv - c[:, None] * du) / det], -1)
    frontal = base + offsets
    frontal[~(camera.ok & np.isfinite(offsets).all((1, 2)))] = np.nan
    return frontal, camera.yaw_pitch_roll[:, 0]


def _outline_x(polyline: np.ndarray, height: float) -> np.ndarray:
    """(T, n, 2) polylines going down -> x where each first crosses y = height (T,), NaN if it does not."""
    x, y = polyline[..., 0], polyline[..., 1]
    out = np.full(len(polyline), np.nan)
    for k in range(polyline.shape[1] - 1):
        y0, y1 = y[:, k], y[:, k + 1]
        crossing = np.isnan(out) & ((y0 - height) * (y1 - height) <= 0) & (y0 != y1)
        w = (height - y0) / np.where(y0 != y1, y1 - y0, 1)
        out = np.where(crossing, x[:, k] + w * (x[:, k + 1] - x[:, k]), out)
    return out


def identity_features(model, landmarks: np.ndarray, image_size) -> np.ndarray:
    """(T, 68, 2) pixels -> (T, 40): jaw outline x at 7 heights on each side (NaN for a side turned
    away), nose and eye corners, on the frontalized face relative to the nose bridge and eye line."""
    face, yaw = frontalize(model, landmarks, image_size)
    origin = np.stack([face[:, 27:31, 0].mean(1), (face[:, 36:42, 1].mean(1) + face[:, 42:48, 1].mean(1)) / 2], -1)
    rel = face - origin[:, None]
    jaw = []
    for height in _JAW_HEIGHTS:
        # in eos's convention yaw < 0 turns the face's right side (points 1-9) away from the camera
        jaw.append(np.where(yaw >= -10, _outline_x(rel[:, 0:9], height), np.nan))
        jaw.append(np.where(yaw <= 10, _outline_x(rel[:, 16:7:-1], height), np.nan))
    return np.concatenate([np.stack(jaw, 1), rel[:, _NOSE_AND_EYE_CORNERS].reshape(len(rel), -1)], 1)


def identity_transfer(model, output: np.ndarray, driving: np.ndarray, reference: np.ndarray, image_size,
                      reference_size=None) -> float:
    """0: the output's identity features are the driver's, 1: the reference's (see the module docstring).
    output, driving (T, 68, 2) in frames of ``image_size``; reference (R, 68, 2) in pictures of
    ``reference_size`` (default: the same)."""
    def median(lms, size):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: a side never seen
            return np.nanmedian(identity_features(model, lms, size), 0)

    # the frames whose driver's mouth is most like the reference's (open, wide): expression moves the
    # jaw outline and the camera fit, and the output has the driver's expression
    mouth = lambda lms: expression_features(lms)[:, [0, 3]]
    distance = np.abs(mouth(driving) - np.median(mouth(reference), 0)).sum(1)
    alike = distance <= np.quantile(distance, 0.25)
    f_out, f_drv = median(output[alike], image_size), median(driving[alike], image_size)
    f_ref = median(reference, image_size if reference_size is None else reference_size)
    seen = np.isfinite(f_out) & np.isfinite(f_drv) & np.isfinite(f_ref)
    direction = (f_ref - f_drv)[seen]
    return float(np.dot((f_out - f_drv)[seen], direction) / np.dot(direction, direction))


def expression_features(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T, 4): mouth opening, eye openness, brow raise, smile width (eye distances)."""
    a = _align(landmarks)
    dist = lambda i, j: np.linalg.norm(a[:, i] - a[:, j], axis=-1)
    mouth = (dist(61, 67) + dist(62, 66) + dist(63, 65)) / 3
    eyes = (dist(37, 41) + dist(38, 40) + dist(43, 47) + dist(44, 46)) / 4
    brows = (np.linalg.norm(a[:, 19] - a[:, 36:42].mean(1), axis=-1) + np.linalg.norm(a[:, 24] - a[:, 42:48].mean(1), axis=-1)) / 2
    smile = dist(48, 54)
    return np.stack([mouth, eyes, brows, smile], 1)


def jitter(landmarks: np.ndarray) -> float:
    """Mean norm of the second difference of the aligned landmarks over consecutive valid frames."""
    a = _align(landmarks)
    acc = a[2:] - 2 * a[1:-1] + a[:-2]
    values = np.linalg.norm(acc, axis=-1).mean(-1)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) < 1e-9 or np.std(b[ok]) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


@dataclass(frozen=True)
class LandmarkScores:
    identity_transfer: float
    """0: the driver's identity, 1: the reference's (< 0: moved away)."""
    expression_fidelity: float
    """Mean correlation of the expression features with the driver's."""
    expression_correlation: dict[str, float]
    expression_error: dict[str, float]
    """Mean absolute difference per feature, eye distances."""
    jitter_ratio: float
    """Output jitter / driver jitter."""


def score_landmarks(model, output: np.ndarray, driving: np.ndarray, reference: np.ndarray, image_size,
                    reference_size=None) -> LandmarkScores:
    """Scores an output sequence (T, 68, 2) against the driving sequence (T, 68, 2) and the reference
    landmarks (R, 68, 2) (one row per reference picture), all in pixels: ``image_size`` (W, H) of the
    driving frames, ``reference_size`` of the reference pictures (default: the same). Frames with NaN
    in the output or the driver are left out."""
    ok = np.isfinite(output).all((1, 2)) & np.isfinite(driving).all((1, 2))
    if ok.sum() < 3:
        raise ValueError(f"score_landmarks: {int(ok.sum())} frames have both an output and a driving face; 3 are needed")
    transfer = identity_transfer(model, output[ok], driving[ok], reference, image_size, reference_size)
    e_out, e_drv = expression_features(output), expression_features(driving)
    corr = {name: _corr(e_out[ok, k], e_drv[ok, k]) for k, name in enumerate(EXPRESSION_FEATURES)}
    err = {name: float(np.nanmean(np.abs(e_out[ok, k] - e_drv[ok, k]))) for k, name in enumerate(EXPRESSION_FEATURES)}
    values = [v for v in corr.values() if np.isfinite(v)]
    return LandmarkScores(identity_transfer=transfer, expression_fidelity=float(np.mean(values)) if values else float("nan"),
                          expression_correlation=corr, expression_error=err,
                          jitter_ratio=jitter(np.where(ok[:, None, None], output, np.nan)) / jitter(np.where(ok[:, None, None], driving, np.nan)))
