"""The built-in plugins, registered through the same hooks as third-party ones."""

from . import dlib_detector, dwpose_image, npz_writer, openpose_json

BUILTIN_PLUGINS = (dlib_detector, dwpose_image, openpose_json, npz_writer)
