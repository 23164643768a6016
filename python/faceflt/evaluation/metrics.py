"""Landmark-level metrics of an FLT output against the driver it follows and the reference it should look like.

All features are computed on iBUG-68 landmarks (pixels) after removing the head pose in the image
plane: each frame is aligned by a similarity transform (rotation, scale, translation) that puts the
two eye centres on fixed points, so in-plane roll, distance to the camera and position drop out.
Yaw and pitch foreshorten the face; frames are weighted towards frontal ones where that matters.

- **Identity features** (shape, not expression): jaw-outline points 1-17 and nose points 28-36 of
  the aligned face (the eye-centre distance is the unit), i.e. face width and jaw shape, nose length,
  eye spacing (fixed by the alignment) relative to all of them.
- **Identity transfer** of an output: how far its identity features moved from the driver's towards
  the reference's, ``t = <f_out - f_drv, f_ref - f_drv> / |f_ref - f_drv|^2`` on medians over the frames
  whose head pose is nearest the reference picture's (yaw and pitch within 10 degrees, else the nearest
  tenth), since yaw and pitch foreshorten 2D geometry: 0 still the driver, 1 the reference, < 0 moved away.
- **Expression features** (per frame, in units of the eye-centre distance): mouth opening (inner lips
  62-66, 61-67, 63-65), eye openness (upper to lower lid, both eyes), brow raise (brow middle to eye
  centre, both sides), smile width (mouth corners 48-54).
- **Expression fidelity**: the Pearson correlation over time between the output's and the driver's
  expression features, per feature, and their mean (what moves in the driver must move alike in the output).
- **Jitter**: the mean frame-to-frame acceleration of the aligned landmarks (second differences, in eye
  distances), as a ratio output / driver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def identity_features(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T, 52): the aligned jaw outline (17 points) and nose (9 points)."""
    aligned = _align(landmarks)
    return np.concatenate([aligned[:, 0:17], aligned[:, 27:36]], 1).reshape(len(aligned), -1)


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


def pose_matched(poses: np.ndarray, reference_pose: np.ndarray, tolerance: float = 10.0) -> np.ndarray:
    """bool (T,): frames whose (yaw, pitch) are within ``tolerance`` degrees of the reference's, or the
    nearest tenth of the frames if none are."""
    distance = np.abs(np.asarray(poses)[:, :2] - np.asarray(reference_pose)[:2]).max(1)
    distance = np.where(np.isfinite(distance), distance, np.inf)
    near = distance <= tolerance
    if near.any():
        return near
    return distance <= np.sort(distance)[max(0, len(distance) // 10)]


def score_landmarks(output: np.ndarray, driving: np.ndarray, reference: np.ndarray, poses: np.ndarray | None = None,
                    reference_pose: np.ndarray | None = None) -> LandmarkScores:
    """Scores an output sequence (T, 68, 2) against the driving sequence (T, 68, 2) and the reference
    landmarks (R, 68, 2) (one row per reference picture). poses (T, 3) and reference_pose (3,) are
    yaw, pitch, roll in degrees (e.g. from the fits); without them all frames count for identity.
    Frames with NaN are left out."""
    ok = np.isfinite(output).all((1, 2)) & np.isfinite(driving).all((1, 2))
    same_pose = ok if poses is None or reference_pose is None else ok & pose_matched(poses, reference_pose)
    if not same_pose.any():
        same_pose = ok
    f_out = np.median(identity_features(output[same_pose]), 0)
    f_drv = np.median(identity_features(driving[same_pose]), 0)
    f_ref = np.median(identity_features(reference), 0)
    direction = f_ref - f_drv
    transfer = float(np.dot(f_out - f_drv, direction) / np.dot(direction, direction))
    e_out, e_drv = expression_features(output), expression_features(driving)
    corr = {name: _corr(e_out[ok, k], e_drv[ok, k]) for k, name in enumerate(EXPRESSION_FEATURES)}
    err = {name: float(np.nanmean(np.abs(e_out[ok, k] - e_drv[ok, k]))) for k, name in enumerate(EXPRESSION_FEATURES)}
    values = [v for v in corr.values() if np.isfinite(v)]
    return LandmarkScores(identity_transfer=transfer, expression_fidelity=float(np.mean(values)) if values else float("nan"),
                          expression_correlation=corr, expression_error=err,
                          jitter_ratio=jitter(np.where(ok[:, None, None], output, np.nan)) / jitter(np.where(ok[:, None, None], driving, np.nan)))
