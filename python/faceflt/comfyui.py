"""ComfyUI nodes: FLT where the users of pose-guided animation models work.

Install into ComfyUI with ``faceflt comfyui install /path/to/ComfyUI`` (it writes a two-line custom node,
``custom_nodes/faceflt/__init__.py``, that imports this module), then restart ComfyUI. The nodes:

- **FLT Transform**: a reference IMAGE, and the driving video as the POSE_KEYPOINT of comfyui_controlnet_aux's
  DWPose node or as IMAGE frames (body, hands and face found by MediaPipe Holistic) -> POSE_KEYPOINT with the FLT face (the reference's face with the driver's
  expression and head pose; body and hands passed through, or retargeted to the reference's limbs given the
  reference's own POSE_KEYPOINT), and the pose IMAGE frames drawn as DWPose draws them.
- **FLT Draw Pose**: POSE_KEYPOINT -> IMAGE frames, DWPose's drawing, for any pose ControlNet or pose guider.

POSE_KEYPOINT is a list, one entry per frame, of ``{"people": [{"pose_keypoints_2d", "face_keypoints_2d",
"hand_left_keypoints_2d", "hand_right_keypoints_2d"}], "canvas_width", "canvas_height"}``, confidence 1.0 for a point
that is there and 0 for one that is not (controlnet_aux keeps a point only when its confidence is >= 1.0). Its
coordinates are in pixels of the canvas (controlnet_aux's DWPose node) or normalised to [0, 1] (its OpenPose node);
controlnet_aux's consumers guess which, part by part. FLT Transform reads either and answers in the units it was
given (in pixels when driven by frames), so that whatever read the DWPose node's output reads its output; the largest
person of each frame (whose points span the largest box) is the one transformed, the others are left out. IMAGE is a float tensor (B, H, W, C) in [0, 1]; torch is used when
ComfyUI gives torch tensors, and is not needed otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .flt import Mode

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "FLTDrawPose", "FLTTransform"]

CATEGORY = "faceflt"


def images_to_numpy(images: Any) -> np.ndarray:
    """ComfyUI IMAGE (B, H, W, C) float in [0, 1], torch or numpy -> uint8 RGB (B, H, W, 3)."""
    if hasattr(images, "detach"):  # a torch tensor, without importing torch; float32 first (numpy has no bfloat16)
        images = images.detach().cpu()
        images = (images.float() if hasattr(images, "float") else images).numpy()
    array = np.asarray(images, np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"an IMAGE must be (B, H, W, C) with C 1, 3 or 4, got shape {array.shape}")
    rgb = np.repeat(array, 3, -1) if array.shape[-1] == 1 else array[..., :3]
    return np.ascontiguousarray(np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8))


def numpy_to_images(frames: np.ndarray) -> Any:
    """uint8 (B, H, W, 3) -> ComfyUI IMAGE: a float32 torch tensor in [0, 1] where torch is there, else numpy."""
    out = np.asarray(frames, np.float32) / 255.0
    try:
        import torch
    except ImportError:
        return out
    return torch.from_numpy(out)


def _frames_from_pose_keypoint(pose_keypoint: list) -> list:
    from .plugins.builtin.openpose_json import read_openpose

    if not isinstance(pose_keypoint, list) or not pose_keypoint:
        raise ValueError("POSE_KEYPOINT must be a non-empty list, one entry per frame (from the DWPose node)")
    if not any(isinstance(doc, dict) and doc.get("people") for doc in pose_keypoint) and any(
            isinstance(doc, dict) and doc.get("animals") for doc in pose_keypoint):
        raise ValueError("this POSE_KEYPOINT holds animal poses (the AnimalPose node): FLT needs a person's face, from the "
                         "DWPose or OpenPose node")
    frames = []
    for i, doc in enumerate(pose_keypoint):
        if not isinstance(doc, dict) or "canvas_width" not in doc or "canvas_height" not in doc:
            raise ValueError(f"POSE_KEYPOINT frame {i} has no canvas_width / canvas_height")
        if (doc["canvas_width"], doc["canvas_height"]) != (pose_keypoint[0]["canvas_width"], pose_keypoint[0]["canvas_height"]):
            raise ValueError(f"POSE_KEYPOINT frame {i} is {doc['canvas_width']}x{doc['canvas_height']} where frame 0 is "
                             f"{pose_keypoint[0]['canvas_width']}x{pose_keypoint[0]['canvas_height']}: one video's frames "
                             "share one size (an IMAGE batch does)")
        frames.append(read_openpose(doc, index=i))  # a frame with nobody in it: a frame without a face
    return frames


def _frames_from_images(frames: np.ndarray, detector, spec) -> list:
    from .driving import detect_driving
    from .plugins.types import PoseFrame

    found = detect_driving(enumerate(frames), detector, spec=spec, progress=_comfy_progress(len(frames)))
    size = (frames.shape[2], frames.shape[1])
    whole = lambda key, i: None if getattr(found, key) is None else getattr(found, key)[i]  # noqa: E731
    return [PoseFrame(index=i, image_size=size, face=found.landmarks[i], face_scores=found.confidences[i],
                      body=whole("body", i), body_scores=whole("body_scores", i), hands=whole("hands", i),
                      hand_scores=whole("hand_scores", i)) for i in range(len(frames))]


def _comfy_progress(total: int):
    """ComfyUI's progress bar on the node, moved as frames are detected, and its Cancel heard between frames; None
    outside ComfyUI. A detector may report from its own threads (holistic's graphs): the interruption raised there
    reaches the node through the detector, which waits for every thread before it raises."""
    try:
        from comfy.model_management import InterruptProcessingException, processing_interrupted
        from comfy.utils import ProgressBar
    except ImportError:
        return None
    bar = ProgressBar(total)

    def step(n: int) -> None:
        bar.update(n)
        if processing_interrupted():
            raise InterruptProcessingException()

    return step


class FLTTransform:
    """The reference's face with the driver's expression and head pose, as POSE_KEYPOINT and pose images."""

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "reference": ("IMAGE", {"tooltip": "the picture of the person to animate, whose face shape is kept"}),
                "mode": ([m.value for m in Mode], {"default": Mode.RELATIVE.value, "tooltip": "relative: the driver's "
                         "motion given to the reference's face (best measured); project, redetect: the FLT paper's"}),
                "smoothing": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.1, "tooltip": "zero-lag "
                              "smoothing of head pose, expression and the driver's landmarks (0: off)"}),
                "retarget_body": ("BOOLEAN", {"default": False, "tooltip": "give the driving body the reference's limb "
                                  "lengths (needs reference_pose_keypoint)"}),
                "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 240.0, "step": 0.01, "tooltip": "the driving "
                        "video's frame rate (the smoothing's time scale)"}),
            },
            "optional": {
                "pose_keypoint": ("POSE_KEYPOINT", {"tooltip": "the driving video as the DWPose (or OpenPose) node gives "
                                  "it; used instead of driving_frames when both are connected"}),
                "driving_frames": ("IMAGE", {"tooltip": "the driving video's frames, when no pose_keypoint is connected"}),
                "reference_pose_keypoint": ("POSE_KEYPOINT", {"tooltip": "the DWPose node's output for the reference "
                                            "picture, for retarget_body"}),
                "detector": (["holistic", "dlib"], {"default": "holistic", "tooltip": "for driving_frames: holistic finds "
                             "the body, hands and face (MediaPipe); dlib the face alone. With pose_keypoint, the "
                             "reference's face is found with dlib, whose points match DWPose's."}),
            },
        }

    RETURN_TYPES = ("POSE_KEYPOINT", "IMAGE")
    RETURN_NAMES = ("pose_keypoint", "pose_images")
    OUTPUT_TOOLTIPS = ("the driving frames' poses with the FLT face, in the driving POSE_KEYPOINT's units",
                       "those poses drawn as DWPose draws them, for a pose ControlNet or pose guider")
    FUNCTION = "transform"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Facial Landmarks Transformation: keeps the reference picture's face shape, follows the driving "
                   "video's expression and head pose. Drive it with the DWPose node's POSE_KEYPOINT or with frames.")

    def transform(self, reference, mode: str = "relative", smoothing: float = 1.0, retarget_body: bool = False,
                  fps: float = 30.0, pose_keypoint=None, driving_frames=None, reference_pose_keypoint=None,
                  detector: str = "holistic") -> tuple:
        from .errors import InputError
        from .plugins import available_detectors, close_detector, make_detector
        from .plugins.builtin.openpose_json import in_pixels

        mode = Mode.parse(mode)
        _check_ranges(self.INPUT_TYPES()["required"], smoothing=smoothing, fps=fps)
        if pose_keypoint is None and driving_frames is None:
            raise ValueError("FLT Transform needs the driving video: connect pose_keypoint (DWPose node) or driving_frames")
        if retarget_body and reference_pose_keypoint is None:
            raise ValueError("retarget_body needs reference_pose_keypoint: the DWPose node's output for the reference image")
        if detector not in ("holistic", "dlib"):
            raise ValueError(f"detector must be 'holistic' or 'dlib', got {detector!r}")
        name = detector if pose_keypoint is None else "dlib"  # DWPose's 68 face points follow dlib's layout
        try:
            found = make_detector(name)
            try:
                frames = self._transform(reference, mode, smoothing, fps, pose_keypoint, driving_frames, found,
                                         available_detectors()[name])
            finally:
                close_detector(found)
        except (InputError, ImportError) as e:  # the core's messages name the command line's options
            raise type(e)(_in_node_terms(str(e), pose_keypoint is not None)) from None
        if retarget_body:
            frames = _retarget(frames, _frames_from_pose_keypoint(reference_pose_keypoint)[0])
        # in the driving POSE_KEYPOINT's own units, so that whatever read it reads this; from frames, in pixels as
        # the DWPose node writes them
        pixels = pose_keypoint is None or any(in_pixels(doc) for doc in pose_keypoint)
        docs = _to_pose_keypoint(frames, pixels)
        # drawn from what is returned, read back as FLT Draw Pose reads it: the images are exactly the drawing of the
        # POSE_KEYPOINT (the normalised coordinates' float rounding can move a point across a pixel's edge)
        return docs, _drawn(docs)

    @staticmethod
    def _transform(reference, mode: Mode, smoothing: float, fps: float, pose_keypoint, driving_frames, detector, spec) -> list:
        """The driving frames with the FLT face."""
        from .driving import fit_driving, fit_reference
        from .errors import InputError
        from .flt import Reference, flt_landmarks
        from .model import load_model

        ref_images = list(images_to_numpy(reference))
        found = detector.detect(ref_images)
        if not found.found.all():
            raise InputError("no face found in the reference image; use a picture where the face is clearly visible")
        sizes = np.array([(im.shape[1], im.shape[0]) for im in ref_images], np.int32)
        model = load_model()
        ref = Reference(found.landmarks.astype(np.float32), fit_reference(model, found.landmarks, sizes, found.confidences, 3.0),
                        tuple(ref_images))
        frames = (_frames_from_pose_keypoint(pose_keypoint) if pose_keypoint is not None
                  else _frames_from_images(images_to_numpy(driving_frames), detector, spec))
        landmarks = np.stack([f.face for f in frames]).astype(np.float32)
        confidences = np.stack([f.face_scores for f in frames]).astype(np.float32)
        track = fit_driving(model, landmarks, confidences, frames[0].image_size, fps, smoothing=smoothing)
        faces = flt_landmarks(model, mode, ref, track, smoothing=smoothing, detector=detector)
        return [_with_face(f, faces[i]) for i, f in enumerate(frames)]


def _check_ranges(declared: dict, **values: float) -> None:
    """The numbers' ranges as INPUT_TYPES declares them: ComfyUI's own validation applies them in a workflow, this
    for a node called directly (a script, a test)."""
    for name, value in values.items():
        spec = declared[name][1]
        if not (np.isfinite(value) and spec["min"] <= value <= spec["max"]):
            raise ValueError(f"{name} must be between {spec['min']:g} and {spec['max']:g}, got {value}")


_NODE_TERMS = (("try another --detector", "set the detector input to the other detector"),
               ("another --reference-detector", "another reference image"),
               ("use --detector dlib", "set the detector input to dlib"))
"""The command line's options, where a core message names one, as this node's inputs."""
_KEYPOINT_TERMS = (("try another --detector", "check that the DWPose node detects faces (detect_face: enable)"),
                   ("another --reference-detector", "another reference image"))
"""The same where the driving faces come from POSE_KEYPOINT (the detector input is not used then)."""


def _in_node_terms(message: str, from_keypoints: bool = False) -> str:
    for cli, node in _KEYPOINT_TERMS if from_keypoints else _NODE_TERMS:
        message = message.replace(cli, node)
    return message


def _with_face(frame, face: np.ndarray):
    from dataclasses import replace

    ok = np.isfinite(face).all(1)
    return replace(frame, face=np.where(ok[:, None], face, np.nan).astype(np.float32), face_scores=ok.astype(np.float32))


def _retarget(frames: list, reference):
    from dataclasses import replace

    from .retarget import retarget

    if reference.body is None:
        raise ValueError("reference_pose_keypoint holds no body")
    bodies = np.stack([f.body if f.body is not None else np.full((18, 2), np.nan, np.float32) for f in frames])
    faces = np.stack([f.face for f in frames])
    hands = np.stack([f.hands if f.hands is not None else np.full((2, 21, 2), np.nan, np.float32) for f in frames])
    # the reference's limbs, in the driving frames' pixels
    scale = np.array(frames[0].image_size, np.float64) / np.array(reference.image_size, np.float64)
    bodies, faces, hands = retarget(reference.body * scale, bodies, faces, hands)
    return [replace(f, body=None if f.body is None else bodies[i], face=faces[i], hands=None if f.hands is None else hands[i])
            for i, f in enumerate(frames)]


def _to_pose_keypoint(frames: list, pixels: bool) -> list[dict]:
    from .plugins.builtin.openpose_json import pose_to_openpose

    return [pose_to_openpose(f, "controlnet", pixels=pixels) for f in frames]


def _drawn(pose_keypoint: list) -> Any:
    """POSE_KEYPOINT -> IMAGE frames, drawn as DWPose draws them."""
    return numpy_to_images(_draw(_frames_from_pose_keypoint(pose_keypoint)))


def _draw(frames: list) -> np.ndarray:
    from .plugins.builtin.dwpose_image import draw_dwpose, to_dwpose_dict

    return np.stack([draw_dwpose(to_dwpose_dict(f), f.image_size[1], f.image_size[0]) for f in frames])


class FLTDrawPose:
    """POSE_KEYPOINT -> pose IMAGE frames, drawn as DWPose draws them (body, hands, face)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"pose_keypoint": ("POSE_KEYPOINT", {"tooltip": "poses from the DWPose, OpenPose or FLT "
                                                                             "Transform node"})}}

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("pose_images",)
    OUTPUT_TOOLTIPS = ("the poses drawn as DWPose draws them",)
    FUNCTION = "draw"
    CATEGORY = CATEGORY
    DESCRIPTION = "Draws POSE_KEYPOINT frames as DWPose does, for a pose ControlNet or pose guider."

    def draw(self, pose_keypoint) -> tuple:
        return (_drawn(pose_keypoint),)


NODE_CLASS_MAPPINGS = {"FLTTransform": FLTTransform, "FLTDrawPose": FLTDrawPose}
NODE_DISPLAY_NAME_MAPPINGS = {"FLTTransform": "FLT Transform", "FLTDrawPose": "FLT Draw Pose"}
