"""Expression and motion metrics of landmark sequences, in plain numpy (no face model).

- **Expression features** (per frame, in units of the eye-centre distance, after a similarity alignment
  that puts the two eye centres on fixed points): mouth opening (inner lips 62-66, 61-67, 63-65), eye
  openness (upper to lower lid, both eyes), brow height (brow middle to eye centre, both sides), mouth
  width (mouth corners 48-54).
- **Jitter**: the mean frame-to-frame acceleration of the aligned landmarks (second differences, in eye
  distances).

The identity metric is in ``features.py`` and the protocol that uses both in ``transfer.py``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXPRESSION_FEATURES", "expression_features", "jitter"]

EXPRESSION_FEATURES = ("mouth_opening", "eye_openness", "brow_height", "mouth_width")


def _align(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> the same faces with the right eye centre at (0, 0) and the left at (1, 0)."""
    lms = np.asarray(landmarks, np.float64)
    right, left = lms[:, 36:42].mean(1), lms[:, 42:48].mean(1)
    axis = left - right
    scale = np.linalg.norm(axis, axis=1)
    with np.errstate(all="ignore"):
        c, s = axis[:, 0] / scale, axis[:, 1] / scale
        rel = lms - right[:, None]
        x = (rel[..., 0] * c[:, None] + rel[..., 1] * s[:, None]) / scale[:, None]
        y = (-rel[..., 0] * s[:, None] + rel[..., 1] * c[:, None]) / scale[:, None]
    return np.stack([x, y], -1)


def expression_features(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T, 4): mouth opening, eye openness, brow height, mouth width (eye distances)."""
    a = _align(landmarks)
    dist = lambda i, j: np.linalg.norm(a[:, i] - a[:, j], axis=-1)
    mouth = (dist(61, 67) + dist(62, 66) + dist(63, 65)) / 3
    eyes = (dist(37, 41) + dist(38, 40) + dist(43, 47) + dist(44, 46)) / 4
    brows = (np.linalg.norm(a[:, 19] - a[:, 36:42].mean(1), axis=-1) + np.linalg.norm(a[:, 24] - a[:, 42:48].mean(1), axis=-1)) / 2
    width = dist(48, 54)
    return np.stack([mouth, eyes, brows, width], 1)


def jitter(landmarks: np.ndarray) -> float:
    """Mean norm of the second difference of the aligned landmarks over consecutive valid frames."""
    a = _align(landmarks)
    acc = a[2:] - 2 * a[1:-1] + a[:-2]
    values = np.linalg.norm(acc, axis=-1).mean(-1)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")
