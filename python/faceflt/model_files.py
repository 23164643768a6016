"""The face model's small text files, parsed by Python's standard library and checked before the core sees them.

- the landmark mapping (eos's ``ibug_to_sfm.txt``, TOML): ``[landmark_mappings]`` 1-based iBUG id = vertex id,
  ``[contour_landmarks]`` ``right`` / ``left`` lists of 1-based iBUG ids;
- the model contour (``sfm_model_contours.json``): ``model_contour.right_contour`` / ``left_contour`` vertex ids;
- the edge topology (``sfm_3448_edge_topology.json``): ``edge_topology.adjacent_faces`` / ``adjacent_vertices``,
  lists of ``{"value0": a, "value1": b}``, 1-based with 0 for "none".

Every problem is a :class:`~faceflt.errors.ModelFormatError` naming the file and the field. Vertex and
triangle ids are checked against the model in the core, which knows its size.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFormatError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["LandmarkMapping", "read_edge_topology", "read_landmark_mapping", "read_model_contour"]

NUM_LANDMARKS = 68
# iBUG 61 and 65 (0-based 60, 64), the inner mouth corners: eos's mapping leaves them out and the core
# places them from the neighbouring lip vertices; every other non-contour landmark must be mapped.
_DERIVED = {60, 64}


@dataclass(frozen=True)
class LandmarkMapping:
    vertex: np.ndarray
    """int32 (68,): the vertex of each landmark (0-based landmark index), -1 where not mapped."""
    right_contour: np.ndarray
    """int32: 0-based ids of the landmarks on the image's right face contour (iBUG 1-8)."""
    left_contour: np.ndarray
    """int32: the same for the left contour (iBUG 10-17)."""


def _text(path: Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot read the file ({e.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ModelFormatError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[e.start]:02x}); is the file damaged?") from None


def _whole(path: Path, where: str, value: Any, minimum: int, maximum: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        bound = f"{minimum}..{maximum}"
        raise ModelFormatError(f"{path}: {where} must be a whole number {bound}, got {value!r}")
    return value


def _member(path: Path, doc: Any, key: str, where: str) -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise ModelFormatError(f"{path}: missing '{where + '.' if where else ''}{key}'")
    return doc[key]


def _list(path: Path, value: Any, where: str) -> list:
    if not isinstance(value, list) or not value:
        raise ModelFormatError(f"{path}: '{where}' must be a non-empty list")
    return value


def read_landmark_mapping(path: Path) -> LandmarkMapping:
    try:
        doc = tomllib.loads(_text(path))
    except tomllib.TOMLDecodeError as e:
        raise ModelFormatError(f"{path}: not a valid TOML mapping file ({e})") from None
    mappings = _member(path, doc, "landmark_mappings", "")
    if not isinstance(mappings, dict):
        raise ModelFormatError(f"{path}: [landmark_mappings] must be a table of 'landmark = vertex' lines")
    vertex = np.full(NUM_LANDMARKS, -1, np.int32)
    for key, value in mappings.items():
        if not key.isdigit():
            raise ModelFormatError(f"{path}: [landmark_mappings] key {key!r} is not a landmark number")
        lm = _whole(path, f"[landmark_mappings] landmark {key}", int(key), 1, NUM_LANDMARKS) - 1
        vertex[lm] = _whole(path, f"[landmark_mappings] {key}", value, 0)
    contours = _member(path, doc, "contour_landmarks", "")
    sides = []
    for side in ("right", "left"):
        ids = _list(path, _member(path, contours, side, "contour_landmarks"), f"contour_landmarks.{side}")
        sides.append(np.array([_whole(path, f"contour_landmarks.{side}[{i}]", v, 1, NUM_LANDMARKS) - 1
                               for i, v in enumerate(ids)], np.int32))
    contour = set(sides[0].tolist()) | set(sides[1].tolist())
    missing = [lm + 1 for lm in range(NUM_LANDMARKS) if vertex[lm] < 0 and lm not in contour and lm not in _DERIVED]
    if missing:
        raise ModelFormatError(f"{path}: landmarks {', '.join(map(str, missing))} are neither mapped to a vertex nor on a "
                               "contour; the fit needs every one (is the file truncated or edited?)")
    return LandmarkMapping(vertex, sides[0], sides[1])


def _json(path: Path) -> Any:
    def refuse(name: str) -> None:
        raise ModelFormatError(f"{path}: holds {name}, which is not a number JSON allows")

    try:
        return json.loads(_text(path), parse_constant=refuse)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None


def read_model_contour(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) int32 vertex ids of the model's contour lines."""
    contour = _member(path, _json(path), "model_contour", "")
    out = []
    for side in ("right_contour", "left_contour"):
        ids = _list(path, _member(path, contour, side, "model_contour"), f"model_contour.{side}")
        out.append(np.array([_whole(path, f"model_contour.{side}[{i}]", v, 0) for i, v in enumerate(ids)], np.int32))
    return out[0], out[1]


def read_edge_topology(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(adjacent_faces, adjacent_vertices), int32 (E, 2) each, 0-based with -1 for "none"."""
    topology = _member(path, _json(path), "edge_topology", "")
    out = []
    for name in ("adjacent_faces", "adjacent_vertices"):
        edges = _list(path, _member(path, topology, name, "edge_topology"), f"edge_topology.{name}")
        pairs = np.empty((len(edges), 2), np.int32)
        for i, edge in enumerate(edges):
            where = f"edge_topology.{name}[{i}]"
            for k in range(2):
                pairs[i, k] = _whole(path, f"{where}.value{k}", _member(path, edge, f"value{k}", where), 0) - 1
        out.append(pairs)
    if len(out[0]) != len(out[1]):
        raise ModelFormatError(f"{path}: adjacent_faces has {len(out[0])} edges but adjacent_vertices has {len(out[1])}")
    if (out[1] < 0).any():
        raise ModelFormatError(f"{path}: an edge of adjacent_vertices has no end vertex (0)")
    return out[0], out[1]
