"""Exceptions raised by faceflt. C++ errors of the compiled core arrive as these classes."""

from __future__ import annotations

__all__ = ["FacefltError", "ModelFormatError", "ModelNotFoundError", "FitError", "DownloadError", "RenderBackendError", "InputError",
           "RenderFallbackWarning"]


class FacefltError(Exception):
    """Base class of every faceflt error."""


class ModelFormatError(FacefltError, ValueError):
    """A model file is missing, truncated, corrupted or of an unsupported version.

    The message names the file, the field and what was expected.
    """


class ModelNotFoundError(FacefltError, FileNotFoundError):
    """No model directory was given, found in ``FACEFLT_MODEL_DIR``, or in the user cache."""


class FitError(FacefltError, RuntimeError):
    """A fit could not be made, e.g. too few usable landmarks in a frame."""


class DownloadError(FacefltError, RuntimeError):
    """Downloading the model failed or a file did not match its pinned sha256."""


class RenderBackendError(FacefltError, RuntimeError):
    """A rendering backend could not start or failed (no libEGL, no EGL display, no GL 3.3 context).

    The message names the EGL or GL call and its error code.
    """


class RenderFallbackWarning(UserWarning):
    """The EGL renderer could not start, so the CPU rasterizer is used instead (same images, slower)."""


class InputError(FacefltError, ValueError):
    """An input file is missing, unreadable, corrupt or empty, or holds no usable face; the message says which and what to do."""
