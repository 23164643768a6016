"""Synthetic faces with known identity, expression and pose, and the benchmark where the exact FLT
answer is known (``faceflt eval synthetic``).

A driver and a reference of different identities are drawn from the model; the driver's landmarks
(expression and head moving over T frames, with detector-like noise) and the reference's (one
frontal picture, noisy too) go through the pipeline's fitting and FLT stages. The exact answer is the
reference identity with the driver's expression and pose, projected without noise. Each mode's mean
error against it is reported. (``redetect`` needs images, so it is measured on real data only.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from ..fitting import Cameras, fuse

__all__ = ["Pair", "Truth", "draw_pair", "on_and_off", "sample", "synthetic_benchmark", "truth", "truth_landmarks"]


@dataclass(frozen=True)
class Truth(Cameras):
    """Known faces: each frame's camera and expression, and the identity (B, m) that wears them."""

    shape_coeffs: np.ndarray
    """float32 (B, m): identity coefficients."""


def truth(model, shape, expression, ypr, scale: float = 2.0, size=(512, 512)) -> Truth:
    """B frames of known parameters, the face centred in the image."""
    ypr = np.asarray(ypr, np.float32).reshape(-1, 3)
    b = len(ypr)
    w, h = size
    return Truth(
        expression_coeffs=np.asarray(expression, np.float32).reshape(b, -1),
        rotation=_core.rotations_from_yaw_pitch_roll(ypr),
        scale=np.full(b, scale, np.float32),
        translation=np.tile(np.array([w / 2 / scale, h / 2 / scale], np.float32), (b, 1)),
        yaw_pitch_roll=ypr,
        image_size=np.tile(np.array(size, np.int32), (b, 1)),
        ok=np.ones(b, bool),
        shape_coeffs=np.asarray(shape, np.float32).reshape(b, -1),
    )


def truth_landmarks(model, t: Truth) -> np.ndarray:
    """The 68 landmarks of each truth frame, jaw points on the model contour (no detector guide).
    One fusion call per distinct identity among the frames."""
    out = np.empty((len(t), model.num_landmarks, 2), np.float32)
    shapes, which = np.unique(t.shape_coeffs, axis=0, return_inverse=True)
    for k, shape in enumerate(shapes):
        rows = np.flatnonzero(which.reshape(-1) == k)
        out[rows] = fuse(model, shape, t.select(rows)).landmarks
    return out


def sample(rng: np.random.Generator, model, n: int, max_yaw: float = 25.0):
    """n random (shape, expression, yaw/pitch/roll) rows."""
    shape = rng.normal(0, 0.8, size=(n, model.num_shape_coefficients))
    expression = rng.uniform(0, 0.7, size=(n, model.num_expression_coefficients)) * (rng.uniform(size=(n, 6)) < 0.4)
    ypr = np.c_[rng.uniform(-max_yaw, max_yaw, n), rng.uniform(-12, 12, n), rng.uniform(-10, 10, n)]
    return shape, expression, ypr


@dataclass(frozen=True)
class Pair:
    """A driver and a reference of different identities, and the driver's motion over T frames."""

    driver_shape: np.ndarray
    """(m,) identity coefficients."""
    reference_shape: np.ndarray
    """(m,)."""
    expression: np.ndarray
    """(T, K): two expressions switching on and off."""
    ypr: np.ndarray
    """(T, 3) degrees: the head turning (yaw up to ``max_yaw``), nodding and rolling a little."""

    def driving(self, model) -> Truth:
        return truth(model, np.tile(self.driver_shape, (len(self.ypr), 1)), self.expression, self.ypr)

    def answer(self, model) -> Truth:
        """The exact FLT answer's parameters: the reference's identity wearing the driver's expression and pose."""
        return truth(model, np.tile(self.reference_shape, (len(self.ypr), 1)), self.expression, self.ypr)

    def picture(self, model) -> Truth:
        """The reference picture's: frontal, no expression."""
        return truth(model, self.reference_shape[None], np.zeros((1, model.num_expression_coefficients)), [[0, 0, 0]])


def on_and_off(rng: np.random.Generator, model, frames: int, pace: tuple[float, float] = (3, 8), off: float = 0.0) -> np.ndarray:
    """(frames, e) expressions: two of the model's, each switched on and off at its own pace (a sine of period 2 pi
    times a number of frames drawn from ``pace``, on where it is above ``off``), at a strength drawn from 0.3-0.8."""
    t = np.arange(frames)
    expression = np.zeros((frames, model.num_expression_coefficients))
    for k in rng.choice(model.num_expression_coefficients, 2, replace=False):
        expression[:, k] = rng.uniform(0.3, 0.8) * (np.sin(t / rng.uniform(*pace) + rng.uniform(0, 6)) > off)
    return expression


def draw_pair(rng: np.random.Generator, model, frames: int, max_yaw: float = 15.0, yaw_period: float = 15.0) -> Pair:
    """A random Pair: identities ~N(0, 1); two of the expressions each on and off at its own pace; yaw a sine of
    ``max_yaw`` degrees and period 2 pi ``yaw_period`` frames."""
    driver_shape, reference_shape = rng.normal(0, 1.0, (2, model.num_shape_coefficients))
    t = np.arange(frames)
    expression = on_and_off(rng, model, frames)
    ypr = np.c_[max_yaw * np.sin(t / yaw_period + rng.uniform(0, 6)), 6 * np.sin(t / 11), 4 * np.sin(t / 9)]
    return Pair(driver_shape, reference_shape, expression, ypr)


def outline_distance(points: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """(T, K, 2) points -> (T, K) distance of each to the polyline outline (T, L, 2) of its frame."""
    a, b = outline[:, :-1], outline[:, 1:]
    d = b - a
    q = points[:, :, None, :]
    t = np.clip(((q - a[:, None]) * d[:, None]).sum(-1) / np.maximum((d ** 2).sum(-1), 1e-12)[:, None], 0, 1)
    return np.linalg.norm(q - (a[:, None] + t[..., None] * d[:, None]), axis=-1).min(-1)


def _errors(landmarks: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """(T, 68): the jaw points' distance to the answer's jaw outline, the inner points' to the answer's."""
    return np.c_[outline_distance(landmarks[:, :17], answer[:, :17]), np.linalg.norm(landmarks[:, 17:] - answer[:, 17:], axis=-1)]


def synthetic_benchmark(model, pairs: int = 8, frames: int = 60, noise: float = 1.5, seed: int = 0,
                        identity_lambda: float = 3.0) -> dict[str, dict[str, float]]:
    """Mean landmark error (pixels, 512 x 512 frames, ~300 px faces) of each mode, and of the driver's
    own landmarks (no FLT), against the exact answer: the inner face (51 points, point to point) and the
    jaw (17 points, each point's distance to the answer's jaw outline: where along the outline a jaw point
    sits is a detector's convention, not the face's shape)."""
    from ..driving import fit_driving, fit_reference
    from ..flt import Mode, Reference, flt_landmarks

    rng = np.random.default_rng(seed)
    modes = (Mode.RELATIVE, Mode.PROJECT)
    errors: dict[str, list[np.ndarray]] = {m: [] for m in ("none", *(m.value for m in modes))}
    for _ in range(pairs):
        pair = draw_pair(rng, model, frames)
        clean = truth_landmarks(model, pair.driving(model))
        driving = (clean + rng.normal(0, noise, clean.shape)).astype(np.float32)
        # the exact answer's jaw follows the same silhouette rule, guided by the clean driving landmarks
        answer = fuse(model, pair.reference_shape, pair.answer(model), guides=clean).landmarks
        ref_lms = (truth_landmarks(model, pair.picture(model)) + rng.normal(0, noise, (1, 68, 2))).astype(np.float32)
        reference = Reference(ref_lms, fit_reference(model, ref_lms, (512, 512), None, identity_lambda))
        track = fit_driving(model, driving, np.ones((frames, 68), np.float32), (512, 512), 30.0,
                            identity_lambda=identity_lambda, smoothing=0.0)
        errors["none"].append(_errors(driving, answer))
        for mode in modes:
            errors[mode.value].append(_errors(flt_landmarks(model, mode, reference, track, smoothing=0.0), answer))
    out = {}
    for mode, e in errors.items():
        e = np.concatenate(e)
        out[mode] = {"inner": float(np.nanmean(e[:, 17:])), "jaw": float(np.nanmean(e[:, :17]))}
    return out
