"""Synthetic faces with known identity, expression and pose, made through the public API."""

from __future__ import annotations

import numpy as np

import faceflt


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Ry(yaw) Rx(pitch) Rz(roll), degrees (eos's convention), written independently of the core."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (ry @ rx @ rz).astype(np.float32)


def truth(model, shape, expression, ypr, scale=2.0, size=(512, 512)) -> faceflt.FitResult:
    """A FitResult holding known parameters (B frames), with the face centred in the image."""
    b = len(ypr)
    w, h = size
    nan = np.full((b, model.num_landmarks, 2), np.nan, np.float32)
    return faceflt.FitResult(
        shape_coeffs=np.asarray(shape, np.float32).reshape(b, -1),
        expression_coeffs=np.asarray(expression, np.float32).reshape(b, -1),
        rotation=np.stack([rotation(*a) for a in ypr]),
        scale=np.full(b, scale, np.float32),
        translation=np.tile(np.array([w / 2 / scale, h / 2 / scale], np.float32), (b, 1)),
        yaw_pitch_roll=np.asarray(ypr, np.float32),
        projected=nan,
        image_size=np.tile(np.array(size, np.int32), (b, 1)),
        ok=np.ones(b, bool),
        num_landmarks_used=np.zeros(b, np.int32),
    )


def landmarks(model, t: faceflt.FitResult) -> np.ndarray:
    """The 68 landmarks of each truth frame; the jaw points are the model contour's (no detector guide)."""
    out = np.empty((len(t), model.num_landmarks, 2), np.float32)
    for i in range(len(t)):
        frame = faceflt.FitResult(**{k: (v[i : i + 1] if isinstance(v, np.ndarray) else v) for k, v in t.__dict__.items()})
        out[i] = faceflt.fuse(model, t.shape_coeffs[i], frame).landmarks[0]
    return out


def sample(rng: np.random.Generator, model, n: int, max_yaw: float = 25.0):
    shape = rng.normal(0, 0.8, size=(n, model.num_shape_coefficients))
    expression = rng.uniform(0, 0.7, size=(n, model.num_expression_coefficients)) * (rng.uniform(size=(n, 6)) < 0.4)
    ypr = np.c_[rng.uniform(-max_yaw, max_yaw, n), rng.uniform(-12, 12, n), rng.uniform(-10, 10, n)]
    return shape, expression, ypr
