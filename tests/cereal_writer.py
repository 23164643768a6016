"""A writer of eos's cereal binary model files, so tests can make files of every class version and
corrupt them on purpose. Written from the layout in ../shared/notes/eos-and-formats.md."""

from __future__ import annotations

import struct

import numpy as np


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def matrix(m: np.ndarray) -> bytes:
    m = np.asarray(m, np.float32)
    if m.ndim == 1:
        m = m[:, None]
    return struct.pack("<ii", *m.shape) + np.asfortranarray(m).tobytes(order="F")


def triangles(t: np.ndarray) -> bytes:
    t = np.asarray(t, np.int32).reshape(-1, 3)
    return u64(len(t)) + t.tobytes()


def pca_model(mean: np.ndarray, basis: np.ndarray, eigenvalues: np.ndarray, tris: np.ndarray) -> bytes:
    return matrix(mean) + matrix(basis) + matrix(eigenvalues) + triangles(tris)


def empty_pca() -> bytes:
    return pca_model(np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 3)))


def string(s: str) -> bytes:
    return u64(len(s)) + s.encode()


def blendshapes(names: list[str], deltas: np.ndarray) -> bytes:
    return u64(len(names)) + b"".join(string(n) + matrix(d) for n, d in zip(names, deltas))


def morphable_model(version: int, shape: bytes, texcoords: np.ndarray, expression: bytes | None = None,
                    expression_index: int = 1, landmarks: dict[str, int] | None = None,
                    texture_triangles: np.ndarray | None = None) -> bytes:
    out = struct.pack("<I", version) + shape + empty_pca()
    if version >= 2:
        out += b"\x01" if expression is None else b"\x00" + struct.pack("<i", expression_index) + expression
    if version >= 3:
        if landmarks is None:
            out += b"\x01"
        else:
            out += b"\x00" + u64(len(landmarks)) + b"".join(string(k) + struct.pack("<i", v) for k, v in landmarks.items())
    uv = np.asarray(texcoords, np.float64).reshape(-1, 2)
    out += u64(len(uv)) + uv.tobytes()
    if version >= 4:
        out += triangles(np.zeros((0, 3)) if texture_triangles is None else texture_triangles)
    return out
