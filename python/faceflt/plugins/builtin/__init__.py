"""The built-in plugins, registered through the same hooks as third-party ones."""

from . import (
               dlib_detector,
               dwpose_detector,
               dwpose_image,
               holistic_detector,
               keypoint_files,
               mediapipe_detector,
               mediapipe_drawing,
               npz_writer,
               openpose_json,
)

BUILTIN_PLUGINS = (dlib_detector, holistic_detector, mediapipe_detector, dwpose_detector, keypoint_files, dwpose_image, mediapipe_drawing, openpose_json,
                   npz_writer)
