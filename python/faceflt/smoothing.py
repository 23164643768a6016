"""Temporal smoothing of per-frame parameters: the One-Euro filter (Casiez, Roussel and Vogel, "1 Euro
Filter: A Simple Speed-based Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012), run
forwards and backwards and averaged so that, offline, it adds no lag: an expression starts when the
driver's does.

The filter is a first-order low-pass whose cutoff rises with the signal's speed: slow drifts (jitter
while holding still) are smoothed strongly, fast motion passes. ``strength`` scales the minimum cutoff:
1.0 is the default (1.0 Hz minimum cutoff at 30 fps), larger smooths more, 0 turns smoothing off.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["one_euro", "runs", "smooth"]


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(x: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> np.ndarray:
    """Causal One-Euro filter over axis 0 of x (T, D)."""
    dt = 1.0 / fps
    out = np.empty_like(x, dtype=np.float64)
    out[0] = x[0]
    dx_hat = np.zeros(x.shape[1:])
    for t in range(1, len(x)):
        dx = (x[t] - out[t - 1]) / dt
        dx_hat = dx_hat + _alpha(d_cutoff, dt) * (dx - dx_hat)
        a = _alpha(min_cutoff + beta * np.abs(dx_hat), dt)
        out[t] = out[t - 1] + a * (x[t] - out[t - 1])
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in a boolean mask (T,), as (start, stop) pairs."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(mask).astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def smooth(x: np.ndarray, valid: np.ndarray, fps: float, strength: float = 1.0) -> np.ndarray:
    """Zero-lag smoothing of x (T, D): the mean of a forward and a backward One-Euro pass, run over
    each run of consecutive valid frames separately (invalid rows are returned unchanged)."""
    x = np.asarray(x, np.float64)
    if strength <= 0 or len(x) < 3:
        return x.copy()
    out = x.copy()
    min_cutoff = 1.0 / strength
    for start, stop in runs(valid):
        if stop - start < 3:
            continue
        seg = x[start:stop]
        forward = one_euro(seg, fps, min_cutoff)
        backward = one_euro(seg[::-1], fps, min_cutoff)[::-1]
        out[start:stop] = (forward + backward) / 2
    return out
