"""Rendering the face mesh textured with the reference picture, under fitted cameras (the paper's
re-render step), with an OpenGL backend through windowless EGL and a CPU backend that gives the same
images where EGL cannot start.

Images are uint8 numpy arrays (H, W, 3) RGB or (H, W, 4) RGBA, row 0 at the top; pixel (i, j)
covers [i, i+1) x [j, j+1), the convention of the landmarks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import _core
from .errors import RenderBackendError, RenderFallbackWarning
from .fitting import Cameras, FitResult, as_cameras
from .model import FaceModel

__all__ = ["Renderer", "RenderResult", "reference_texture"]

_BACKGROUNDS = {"black": _core.Background.black, "transparent": _core.Background.transparent}


@dataclass(frozen=True)
class RenderResult:
    """Rendered frames."""

    rgba: np.ndarray
    """uint8 (B, H, W, 4): the face over the background. Alpha is the face's coverage times the
    validity of its texture (0 where the reference did not see that part of the face); with a black
    or image background the colour is already composited and alpha is 255."""
    depth: np.ndarray | None = None
    """float32 (B, H, W): depth of the nearest surface in model units (larger is nearer), NaN where
    nothing is drawn; only when asked for (``return_depth=True``)."""

    @property
    def coverage(self) -> np.ndarray:
        """bool (B, H, W): pixels the mesh covers (needs ``return_depth=True``)."""
        if self.depth is None:
            raise ValueError("coverage needs the depth: render with return_depth=True")
        return np.isfinite(self.depth)


def reference_texture(model: FaceModel, fit: FitResult | Cameras, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The texture coordinates that make a render sample the reference picture directly.

    Returns ``uv`` float32 (N, 2), each vertex's projection in the reference divided by the picture
    size, and ``visible`` bool (N,), whether the reference saw that vertex (inside the picture and not
    hidden by the face itself). ``fit`` is the reference's fit (or cameras with ``shape_coeffs`` beside them, as the
    synthetic benchmark's truth has); ``index`` picks a row of it.
    """
    frame = slice(index, index + 1)
    vertices = _core.build_meshes(model, fit.shape_coeffs[frame], fit.expression_coeffs[frame])[0]
    width, height = (int(x) for x in fit.image_size[index])
    t = _core.texture_coordinates(model, vertices, as_cameras(fit).select(frame).bound(), width, height)
    return t.uv, t.visible


class Renderer:
    """Renders the model's mesh, textured, under scaled-orthographic cameras, into images of one size.

    Args:
        model: the face model (its triangles are uploaded once).
        size: (width, height) of the rendered images, pixels.
        backend: ``"egl"`` (OpenGL through EGL: a GPU, or Mesa's llvmpipe on the CPU), ``"cpu"`` (the
            C++ rasterizer), or ``"auto"``: EGL, falling back to the CPU with a
            :class:`~faceflt.errors.RenderFallbackWarning` when EGL cannot start.
        samples: 1 (none), 4, 9 or 16 samples per pixel for smooth edges (MSAA on GL, supersampling on the CPU).
        device: EGL device index; ``None``: ``$FACEFLT_EGL_DEVICE``, else 0.

    Raises:
        RenderBackendError: ``backend="egl"`` and no EGL context could be made (the message names the
            EGL call and its error code).
    """

    def __init__(self, model: FaceModel, size: tuple[int, int], *, backend: Literal["auto", "egl", "cpu"] = "auto",
                 samples: int = 1, device: int | None = None) -> None:
        if backend not in ("auto", "egl", "cpu"):
            raise ValueError(f"backend must be 'auto', 'egl' or 'cpu', got {backend!r}")
        width, height = (int(x) for x in size)
        self._model = model
        if backend == "cpu":
            self._impl = _core.make_cpu_renderer(width, height, samples)
        else:
            try:
                self._impl = _core.make_egl_renderer(width, height, samples, -1 if device is None else device)
            except RenderBackendError as e:
                if backend == "egl":
                    raise
                warnings.warn(f"EGL rendering is unavailable ({e}); using the CPU rasterizer", RenderFallbackWarning, stacklevel=2)
                self._impl = _core.make_cpu_renderer(width, height, samples)
        n = model.num_vertices
        self._impl.set_mesh(model.triangles, np.zeros((n, 2), np.float32), np.ones(n, np.float32))

    @property
    def backend(self) -> str:
        """``"egl (...device, GL renderer...)"`` or ``"cpu"``."""
        return self._impl.name

    @property
    def size(self) -> tuple[int, int]:
        return self._impl.width, self._impl.height

    def set_texture(self, image: np.ndarray, uv: np.ndarray, weight: np.ndarray) -> None:
        """Texture ``image`` (H, W, 3|4) uint8 with per-vertex ``uv`` (N, 2) in [0, 1] (origin top-left) and
        ``weight`` (N,) in [0, 1]: 1 where the texture is valid, 0 where the render should be transparent."""
        self._impl.set_mesh(self._model.triangles, np.asarray(uv, np.float32), np.asarray(weight, np.float32))
        self._impl.set_texture(np.ascontiguousarray(image, dtype=np.uint8))

    def set_reference(self, image: np.ndarray, fit: FitResult, index: int = 0, *, hidden: Literal["mask", "fill"] = "mask") -> None:
        """Textures the face with the reference picture through the reference fit's own projection.

        ``hidden="mask"`` leaves the parts the reference did not see transparent; ``"fill"`` draws
        them with whatever lies at their projection in the picture.
        """
        if hidden not in ("mask", "fill"):
            raise ValueError(f"hidden must be 'mask' or 'fill', got {hidden!r}")
        uv, visible = reference_texture(self._model, fit, index)
        self.set_texture(image, uv, visible if hidden == "mask" else np.ones_like(visible))

    def render_batch(self, vertices: np.ndarray, cameras: Cameras | FitResult, *,
                     background: Literal["black", "transparent"] | np.ndarray = "black", return_depth: bool = False) -> RenderResult:
        """Renders B frames through one context; texture and triangles are not uploaded again.

        Args:
            vertices: float32 (B, N, 3) meshes in model units (e.g. ``fuse(..., return_mesh=True).vertices``).
            cameras: the Cameras (or fits) whose rotation, scale and translation pose each frame (e.g. a driving
                track's).
            background: ``"black"``, ``"transparent"``, or uint8 (B, H, W, 3) images (e.g. the driving frames).
            return_depth: also return the depth (and so the coverage).
        """
        return self._render(np.asarray(vertices, np.float32), cameras, slice(None), background, return_depth)

    def render(self, vertices: np.ndarray, cameras: Cameras | FitResult, index: int = 0, *,
               background: Literal["black", "transparent"] | np.ndarray = "black", return_depth: bool = False) -> RenderResult:
        """One frame: ``vertices`` (N, 3) under row ``index`` of ``cameras``, ``background`` one (H, W, 3)
        image or a name; the result keeps a batch axis of 1."""
        bg = background if isinstance(background, str) else np.asarray(background)[None]
        return self._render(np.asarray(vertices, np.float32)[None], cameras, slice(index, index + 1), bg, return_depth)

    def _render(self, vertices: np.ndarray, cameras: Cameras | FitResult, rows: slice, background, return_depth: bool) -> RenderResult:
        if isinstance(background, str):
            if background not in _BACKGROUNDS:
                raise ValueError(f"background must be 'black', 'transparent' or an image array, got {background!r}")
            mode, images = _BACKGROUNDS[background], None
        else:
            mode, images = _core.Background.image, np.ascontiguousarray(background, dtype=np.uint8)
        posed = as_cameras(cameras).select(rows)
        d = self._impl.render_batch(vertices, posed.bound(), mode, images, return_depth)
        return RenderResult(rgba=d.rgba, depth=d.depth)

    def check(self) -> None:
        """Raises if the backend recorded an error it did not raise (OpenGL's glGetError)."""
        code = self._impl.pending_error()
        if code:
            raise RenderBackendError(f"OpenGL error 0x{code:04X} pending after rendering")
