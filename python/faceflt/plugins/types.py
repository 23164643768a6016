"""What plugins exchange with faceflt: typed specs, detections and pose frames (numpy, pixels)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["Detections", "Detector", "DetectorSpec", "MIN_FACE_POINTS", "checked", "face_found", "OutputContext", "PoseFrame", "Writer", "WriterSpec", "SCHEMES", "rgb_image"]


def rgb_image(image, detector: str, index: int) -> np.ndarray:
    """An input image as contiguous uint8 (H, W, 3), or a ValueError naming the detector and the image."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{detector} detector: image {index} must be (H, W, 3) uint8 RGB, got {image.shape}")
    return image

MIN_FACE_POINTS = 20
"""A face with fewer landmarks than this (the rest NaN) counts as not found, as in the driving video's fits."""

def face_found(landmarks: np.ndarray) -> np.ndarray:
    """(..., K, 2) landmarks -> bool (...): a face is there where at least MIN_FACE_POINTS of its points are (all of a
    scheme with fewer points); the others may be NaN, points the detector could not place."""
    points = np.isfinite(landmarks).all(axis=-1).sum(axis=-1)
    return points >= min(MIN_FACE_POINTS, landmarks.shape[-2])


#: Landmark schemes a detector may produce, with their point counts.
SCHEMES = {"ibug68": 68, "mediapipe468": 468, "mediapipe478": 478, "dwpose133": 133}


@dataclass(frozen=True)
class Detections:
    """One face per image (the largest, or the one in the given box).

    landmarks: float32 (B, K, 2), pixels, origin top-left; NaN where no face was found, and at a point the detector
        could not place (occluded, below its threshold): a face needs at least MIN_FACE_POINTS of them.
    confidences: float32 (B, K) in [0, 1]; 0 where no face was found. Every fit leaves out points scored below 0.3.
    boxes: float32 (B, 4) face boxes (x0, y0, x1, y1) in pixels; NaN where no face was found.
    scheme: the landmark scheme, a key of SCHEMES.
    body, body_scores: whole-body detectors only: float32 (B, 18, 2) OpenPose-18 joints in pixels
        (NaN where missing) and (B, 18) scores.
    hands, hand_scores: whole-body detectors only: float32 (B, 2, 21, 2) (left, right) and (B, 2, 21).
    num_faces: int32 (B,) how many faces (people, for whole-body detectors) were seen, when the detector
        knows; the landmarks are the largest one's.
    """

    landmarks: np.ndarray
    confidences: np.ndarray
    boxes: np.ndarray
    scheme: str
    body: np.ndarray | None = None
    body_scores: np.ndarray | None = None
    hands: np.ndarray | None = None
    hand_scores: np.ndarray | None = None
    num_faces: np.ndarray | None = None

    def __post_init__(self) -> None:
        for key in ("landmarks", "confidences", "boxes"):  # any array-like, as numpy takes them
            object.__setattr__(self, key, np.asarray(getattr(self, key), np.float32))
        k = SCHEMES.get(self.scheme)
        if k is None:
            raise ValueError(f"unknown landmark scheme {self.scheme!r}; known: {', '.join(SCHEMES)}")
        b = len(self.landmarks)
        if self.landmarks.shape != (b, k, 2) or self.confidences.shape != (b, k) or self.boxes.shape != (b, 4):
            raise ValueError(f"Detections({self.scheme}): expected landmarks (B, {k}, 2), confidences (B, {k}), boxes (B, 4); "
                             f"got {self.landmarks.shape}, {self.confidences.shape}, {self.boxes.shape}")

    @classmethod
    def empty(cls, count: int, scheme: str) -> "Detections":
        """Detections of ``count`` images with no face yet, for a detector to fill in place."""
        k = SCHEMES[scheme]
        return cls(landmarks=np.full((count, k, 2), np.nan, np.float32), confidences=np.zeros((count, k), np.float32),
                   boxes=np.full((count, 4), np.nan, np.float32), scheme=scheme, num_faces=np.zeros(count, np.int32))

    @property
    def found(self) -> np.ndarray:
        """bool (B,): images where a face was found (``face_found``)."""
        return face_found(self.landmarks)


def checked(found: Any, detector: str, count: int | None = None) -> Detections:
    """What a detector returned, checked where faceflt takes it: Detections (of ``count`` images) of the 68 iBUG
    points, or an error that names the detector."""
    if not isinstance(found, Detections):
        raise TypeError(f"detector {detector!r} returned {type(found).__name__}; detect() and track() return "
                        "faceflt.plugins.Detections")
    if count is not None and len(found.landmarks) != count:
        raise ValueError(f"detector {detector!r} returned {len(found.landmarks)} faces for {count} images; one row per image "
                         "(NaN where no face was found)")
    if found.scheme != "ibug68":
        raise ValueError(f"detector {detector!r} gives {found.scheme!r} landmarks; FLT takes the 68 iBUG points "
                         "(scheme 'ibug68'): map them to those before returning")
    return found


@runtime_checkable
class Detector(Protocol):
    """Finds face landmarks in RGB images.

    A face detector (the default kind) is given crops of the driving frames: once a face is found, the next frames
    are searched only in the square twice its size around it, and the whole frame again every 30 frames or when the
    face is lost; it answers in the crop's pixels, and the pipeline moves them back (``DetectorSpec.crops``). Its
    landmarks must therefore come from the image it is given. A detector that does not look at the images (it replays keypoints from a file) says so in its spec
    (``DetectorSpec.uses_images = False``); the pipeline then gives it whole frames only, never crops. So does a
    whole-body one (``whole_body``: a face crop would cut the body off). One that follows the person through a
    video itself (``tracks``) also offers ``track(frames, first) -> Detections``, which the pipeline calls with
    the driving video's frames in order, in chunks of consecutive frames (``first`` for the first chunk); if
    its ``track`` also takes ``progress``, a callable, it calls ``progress(n)`` as it finishes n more frames of
    the chunk (from any thread), and the progress bar moves frame by frame instead of chunk by chunk;
    ``detect`` then still takes independent pictures (the reference). A detector that holds models, graphs or
    threads may offer ``close()``: the pipeline calls it when done (``faceflt.plugins.close_detector``).
    """

    scheme: str

    def detect(self, images: Sequence[np.ndarray], boxes: np.ndarray | None = None) -> Detections:
        """images: B uint8 (H, W, 3) RGB arrays. boxes: optional float (B, 4) known face boxes (x0, y0, x1,
        y1) that skip face detection (e.g. re-detection on a render); NaN rows mean "detect"."""
        ...


@dataclass(frozen=True)
class DetectorSpec:
    """A detector a plugin offers: ``factory(options)`` builds it; ``options`` is a dataclass type."""

    name: str
    scheme: str
    options: type
    factory: Callable[[Any], Detector]
    description: str = ""
    uses_images: bool = True
    """False for a detector that replays keypoints instead of looking at the images: it gets whole frames, never
    crops, and the reference picture is detected with dlib unless --reference-detector says otherwise."""
    requires: tuple[str, ...] = ()
    """Modules it imports when built, and ``install``: what to run when one is missing (``faceflt plugins`` says)."""
    install: str = ""
    whole_body: bool = False
    """True for a detector that gives the body and hands too: it gets whole frames, never face crops."""
    tracks: bool = False
    """True for a detector that offers ``track(frames, first)``: the driving video's frames go through it in order."""

    @property
    def crops(self) -> bool:
        """Whether the pipeline may search a frame only around the previous frame's face (a crop)."""
        return self.uses_images and not self.whole_body and not self.tracks


def missing_modules(spec: "DetectorSpec | WriterSpec") -> list[str]:
    """The modules a spec requires that cannot be imported here (found without importing them)."""
    import importlib.util

    return [m for m in spec.requires if importlib.util.find_spec(m) is None]


@dataclass(frozen=True)
class PoseFrame:
    """One frame's keypoints in pixels (origin top-left), NaN where missing, scores in [0, 1].

    face: float32 (68, 2) iBUG order. body: float32 (18, 2) OpenPose-18 order (0 nose, 1 neck, 2 right
    shoulder ... 17 left ear), or None. hands: float32 (2, 21, 2) (left, right), or None.
    """

    index: int
    image_size: tuple[int, int]  # (width, height)
    face: np.ndarray
    face_scores: np.ndarray
    body: np.ndarray | None = None
    body_scores: np.ndarray | None = None
    hands: np.ndarray | None = None
    hand_scores: np.ndarray | None = None
    status: str = ""
    """What faceflt knows of the face: 'fitted', 'interpolated' (across a short gap) or 'missing'; '' if unknown."""
    mesh: np.ndarray | None = None
    """float32 (468 or 478, 2): a MediaPipe face mesh in pixels, for the formats that draw one."""


@runtime_checkable
class Writer(Protocol):
    """Writes frames one by one (a video or a folder grows as frames come; nothing is held)."""

    def write(self, frame: PoseFrame) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class OutputContext:
    """What a writer may know of the job it writes for. A writer whose options dataclass has a field ``context``
    is given this; one with a field ``fps`` is given the frame rate (and ``draw_resolution`` the user's choice)."""

    fps: float
    """Frames per second of the driving frames."""
    image_size: tuple[int, int]
    """(width, height) of the driving frames, pixels."""
    stem: str
    """The driving input's name without its suffix (``B`` for ``B.mp4``)."""
    video: bool
    """Whether the driving input is a sequence (a video or a folder of frames) rather than one image."""


@dataclass(frozen=True)
class WriterSpec:
    """An output format a plugin offers: ``factory(path, options)`` opens a writer at ``path``; ``target(context)``
    names that path inside the output folder (default: the format's name)."""

    name: str
    options: type
    factory: Callable[[Path, Any], Writer]
    description: str = ""
    target: Callable[[OutputContext], str] | None = None
    requires: tuple[str, ...] = ()
    """As for DetectorSpec."""
    install: str = ""
