"""Reading and writing images and videos, frame by frame."""

from .frames import IMAGE_SUFFIXES, VIDEO_SUFFIXES, FrameSource, open_frames, read_image
from .read_ahead import ReadAhead
from .sink import FrameSink

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "FrameSink", "FrameSource", "ReadAhead", "open_frames", "read_image"]
