"""Face-mesh contour images for mesh-conditioned models (the ControlNet "mediapipe_face" style of
controlnet_aux): the face oval, eyes, eyebrows and lips of the 468-point mesh as lines of width 2, in
that annotator's colours, with 4 x 4 squares on the pupils when the mesh has iris points (478), the
colours given in BGR order and the image channel-reversed at the end, as there.

The contour tables (which mesh points each contour joins) are MediaPipe's; they are read from an
installed ``mediapipe`` package's source without importing it (``pip install --no-deps mediapipe``
is enough). The frame must carry the mesh: ``PoseFrame.mesh`` (468 or 478, 2) in pixels.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...io.sink import FrameSink
from ..hookspecs import hookimpl
from ..types import PoseFrame, WriterSpec

# Contour -> colour as controlnet_aux's annotator gives it (drawn in this order).
_STYLE = [("FACE_OVAL", (10, 200, 10)), ("LEFT_EYE", (180, 200, 10)), ("LEFT_EYEBROW", (180, 220, 10)),
          ("RIGHT_EYE", (10, 200, 180)), ("RIGHT_EYEBROW", (10, 220, 180)), ("LIPS", (10, 180, 10))]
_PUPILS = {468: (10, 200, 250), 473: (250, 200, 10)}

# Where MediaPipe keeps the tables: the legacy solutions module, or the Tasks API's class.
_SOURCES = [("python/solutions/face_mesh_connections.py", "FACEMESH_{}"),
            ("tasks/python/vision/face_landmarker.py", "FACE_LANDMARKS_{}")]


def _pairs(node: ast.AST) -> list[tuple[int, int]]:
    """Integer pairs in a literal: tuples (a, b) or calls Connection(a, b), at any depth."""
    out = []
    for sub in ast.walk(node):
        items = sub.elts if isinstance(sub, ast.Tuple) else sub.args if isinstance(sub, ast.Call) else None
        if items and len(items) == 2 and all(isinstance(x, ast.Constant) and isinstance(x.value, int) for x in items):
            out.append((items[0].value, items[1].value))
    return out


@lru_cache(maxsize=1)
def contour_connections() -> dict[str, list[tuple[int, int]]]:
    """MediaPipe's face contour tables, parsed from its installed source."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the mediapipe drawing reads MediaPipe's contour tables: `pip install --no-deps mediapipe`")
    root = Path(spec.submodule_search_locations[0])
    for relative, pattern in _SOURCES:
        path = root / relative
        if not path.is_file():
            continue
        wanted = {pattern.format(name): name for name, _ in _STYLE}
        found: dict[str, list[tuple[int, int]]] = {}
        for node in ast.walk(ast.parse(path.read_text())):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(target, ast.Name) and target.id in wanted and node.value is not None:
                found[wanted[target.id]] = _pairs(node.value)
        if len(found) == len(_STYLE):
            return found
    raise ImportError(f"no face contour tables found in the mediapipe package at {root}")


def draw_mesh_contours(mesh: np.ndarray, height: int, width: int) -> np.ndarray:
    """Draws a face mesh (468 or 478, 2) in pixels on a black uint8 (height, width, 3) canvas."""
    import cv2

    mesh = np.asarray(mesh, np.float64)
    canvas = np.zeros((height, width, 3), np.uint8)
    inside = np.isfinite(mesh).all(1) & (mesh[:, 0] >= 0) & (mesh[:, 1] >= 0) & (mesh[:, 0] < width) & (mesh[:, 1] < height)
    px = np.zeros((len(mesh), 2), int)
    px[inside] = np.floor(mesh[inside]).astype(int)
    tables = contour_connections()
    for name, colour in _STYLE:
        for a, b in tables[name]:
            if a < len(mesh) and b < len(mesh) and inside[a] and inside[b]:
                cv2.line(canvas, tuple(px[a]), tuple(px[b]), colour, thickness=2)
    for index, colour in _PUPILS.items():
        if index < len(mesh) and inside[index]:
            x, y = px[index]
            canvas[y - 2 : y + 2, x - 2 : x + 2] = colour
    return canvas[..., ::-1].copy()


@dataclass(frozen=True)
class MeshDrawingOptions:
    fps: float = 30.0
    """Frame rate of an mp4 output."""


class MeshDrawingWriter:
    def __init__(self, path: Path, options: MeshDrawingOptions) -> None:
        contour_connections()  # fail now, not at the first frame, if the tables are missing
        self._sink = FrameSink(path, options.fps)

    def write(self, frame: PoseFrame) -> None:
        mesh = frame.mesh
        if mesh is None:
            raise ValueError("the mediapipe drawing needs the face mesh: PoseFrame.mesh (468, 2) in pixels "
                             "(use the mediapipe detector with output='mediapipe468')")
        width, height = frame.image_size
        self._sink.write(frame.index, draw_mesh_contours(mesh, height, width))

    def close(self) -> None:
        self._sink.close()


@hookimpl
def faceflt_register_writers() -> list[WriterSpec]:
    return [WriterSpec(name="mediapipe", options=MeshDrawingOptions, factory=MeshDrawingWriter,
                       requires=("mediapipe",), install="pip install --no-deps mediapipe",
                       description="face-mesh contour images, controlnet_aux 'mediapipe_face' style (needs the 468-point mesh)")]
