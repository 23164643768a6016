"""faceflt's plugin layer (pluggy): landmark detectors and output formats.

Third-party plugins implement the hooks of :mod:`faceflt.plugins.hookspecs` with ``@hookimpl`` and
register through the ``faceflt`` entry-point group.
"""

from .hookspecs import hookimpl
from .manager import (
    ENTRY_POINT_GROUP,
    available_detectors,
    available_writers,
    close_detector,
    get_plugin_manager,
    make_detector,
    make_writer,
)
from .types import SCHEMES, Detections, Detector, DetectorSpec, OutputContext, PoseFrame, Writer, WriterSpec, rgb_image

__all__ = [
    "ENTRY_POINT_GROUP",
    "SCHEMES",
    "Detections",
    "Detector",
    "DetectorSpec",
    "OutputContext",
    "PoseFrame",
    "Writer",
    "WriterSpec",
    "available_detectors",
    "available_writers",
    "close_detector",
    "get_plugin_manager",
    "hookimpl",
    "make_detector",
    "make_writer",
    "rgb_image",
]
