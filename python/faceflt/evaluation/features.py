"""Identity features of 68 iBUG landmarks in plain numpy: no face model inside the metric.

Each face is rotated and scaled so that its outer eye corners (points 37 and 46, 0-based 36 and 45) lie
on (-0.5, 0) and (0.5, 0): every feature is in units of the outer-eye-corner distance, y pointing down
from the eye line. The candidate features are proportions that a face keeps while it talks:

- ``jaw_width_<h>``: the width of the jaw outline (points 1-17) at heights 0.4, 0.7, 1.0 and 1.2 below
  the eye line (the line between the two sides' crossings);
- ``jaw_start``, ``chin``: how far below the eye line the outline begins (mean of points 1 and 17) and
  ends (point 9);
- ``nose_length`` (nose bridge top 28 to the nose's base 34, vertically), ``nose_width`` (32 to 36),
  ``upper_lip`` (34 to the upper lip's top 52, vertically);
- ``eye_width`` (mean of each eye's corner distance) and ``face_centre`` (the nose base's x: how far it
  sits from the eyes' middle, a measure of asymmetry).

``SPREAD`` holds each kept feature's between-person spread, measured once on a documented population
and frozen (see its comment); the distance between two faces' features is the Euclidean distance of the
differences divided by these spreads. A feature is kept only where that population's between-person
spread is clearly above its within-person spread (ratio >= 1.5): a feature that does not separate people
only adds noise to the distance.

Head turn and mouth: ``turn`` is the signed nose-to-jaw asymmetry (where the nose tip 31 sits between the
outline's ends 1 and 17, -1..1, 0 frontal); ``mouth_gap`` the inner lips' mean opening (eye distances).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ALL_FEATURES", "FEATURES", "SPREAD", "align_eyes", "distance", "identity_features", "mouth_gap", "turn"]

_JAW_HEIGHTS = (0.4, 0.7, 1.0, 1.2)
ALL_FEATURES = (*(f"jaw_width_{h}" for h in _JAW_HEIGHTS), "jaw_start", "chin", "nose_length", "nose_width", "upper_lip",
                "eye_width", "face_centre")

# Between-person spread (standard deviation of per-person medians over frontal, mouth-closed frames; eye
# distances) of the features kept, measured once with dlib's 68-point detector on the one-person videos of
# the developer data whose faces are large enough (eye distance >= 60 px: LivePortrait d3, d6, d12, TPSMM
# driving, MusePose dance; `faceflt eval identity --calibrate` prints the table) and frozen here. Kept:
# the features whose between / within ratio is at least 1.5; measured and left out: nose_length 1.25,
# jaw_start 1.38, chin 1.07, face_centre 0.67 (head pitch, jaw motion and detector noise move them about
# as much as people differ).
SPREAD: dict[str, float] = {
    "jaw_width_0.4": 0.0848,  # within 0.0376, ratio 2.26
    "jaw_width_0.7": 0.0972,  # within 0.0485, ratio 2.00
    "jaw_width_1.0": 0.1123,  # within 0.0656, ratio 1.71
    "jaw_width_1.2": 0.1723,  # within 0.1057, ratio 1.63
    "nose_width": 0.0401,  # within 0.0133, ratio 3.01
    "upper_lip": 0.0379,  # within 0.0163, ratio 2.32
    "eye_width": 0.0105,  # within 0.0056, ratio 1.88
}
FEATURES = tuple(SPREAD)


def align_eyes(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> the same faces with the outer eye corners at (-0.5, 0) and (0.5, 0)."""
    lms = np.asarray(landmarks, np.float64)
    right, left = lms[:, 36], lms[:, 45]
    axis = left - right
    scale = np.linalg.norm(axis, axis=1)
    with np.errstate(all="ignore"):
        c, s = axis[:, 0] / scale, axis[:, 1] / scale
        rel = lms - ((right + left) / 2)[:, None]
        x = (rel[..., 0] * c[:, None] + rel[..., 1] * s[:, None]) / scale[:, None]
        y = (-rel[..., 0] * s[:, None] + rel[..., 1] * c[:, None]) / scale[:, None]
    return np.stack([x, y], -1)


def _crossing(polyline: np.ndarray, height: float) -> np.ndarray:
    """(T, n, 2) polylines going down -> x where each first crosses y = height (T,), NaN if it does not."""
    x, y = polyline[..., 0], polyline[..., 1]
    out = np.full(len(polyline), np.nan)
    for k in range(polyline.shape[1] - 1):
        y0, y1 = y[:, k], y[:, k + 1]
        with np.errstate(all="ignore"):
            crossing = np.isnan(out) & ((y0 - height) * (y1 - height) <= 0) & (y0 != y1)
            w = (height - y0) / np.where(y0 != y1, y1 - y0, 1)
        out = np.where(crossing, x[:, k] + w * (x[:, k + 1] - x[:, k]), out)
    return out


def identity_features(landmarks: np.ndarray, names=None) -> np.ndarray:
    """(T, 68, 2) pixels -> (T, F): the features ``names`` (default FEATURES) per face."""
    a = align_eyes(landmarks)
    x, y = a[..., 0], a[..., 1]
    values = {}
    for h in _JAW_HEIGHTS:
        values[f"jaw_width_{h}"] = _crossing(a[:, 16:7:-1], h) - _crossing(a[:, 0:9], h)
    values["jaw_start"] = (y[:, 0] + y[:, 16]) / 2
    values["chin"] = y[:, 8]
    values["nose_length"] = y[:, 33] - y[:, 27]
    values["nose_width"] = np.abs(x[:, 35] - x[:, 31])
    values["upper_lip"] = y[:, 51] - y[:, 33]
    values["eye_width"] = (np.linalg.norm(a[:, 39] - a[:, 36], axis=-1) + np.linalg.norm(a[:, 45] - a[:, 42], axis=-1)) / 2
    values["face_centre"] = x[:, 33]
    return np.stack([values[n] for n in (FEATURES if names is None else names)], 1)


def distance(f: np.ndarray, g: np.ndarray) -> float:
    """The weighted distance between two feature vectors (FEATURES order): Euclidean over the features
    both have, each difference divided by its between-person spread."""
    spread = np.array([SPREAD[n] for n in FEATURES])
    d = (np.asarray(f) - np.asarray(g)) / spread
    d = d[np.isfinite(d)]
    return float(np.sqrt((d ** 2).sum())) if len(d) else float("nan")


def turn(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,): where the nose tip sits between the jaw outline's ends, -1..1 (0: frontal;
    the sign is the side the face turns to, in the image)."""
    a = align_eyes(landmarks)
    x = a[..., 0]
    with np.errstate(all="ignore"):
        return (2 * x[:, 30] - x[:, 0] - x[:, 16]) / (x[:, 16] - x[:, 0])


def mouth_gap(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,): the inner lips' mean opening (61-67, 62-66, 63-65), eye distances."""
    a = align_eyes(landmarks)
    d = lambda i, j: np.linalg.norm(a[:, i] - a[:, j], axis=-1)
    return (d(61, 67) + d(62, 66) + d(63, 65)) / 3
