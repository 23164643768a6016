"""Reading and writing images and videos, frame by frame."""

from .frames import FrameSource, open_frames, read_image

__all__ = ["FrameSource", "open_frames", "read_image"]
