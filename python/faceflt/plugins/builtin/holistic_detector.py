"""Whole-body keypoints out of the box: MediaPipe Holistic (BlazePose body, hands, face mesh) on the CPU.

MediaPipe 0.10.14 is the newest release whose wheel carries the pose, hand and face landmark models of its
"legacy solutions" and accepts NumPy 2 (0.10.15 to 0.10.21 require numpy < 2; 0.10.30 and later ship neither the
solutions nor their models), so it is pinned in faceflt's default install (Python <= 3.12, the versions it has
wheels for). Its Holistic graph follows one person through a video:
the body is detected once, then each frame's regions (body, both hands, face) come from the previous
frame's landmarks, which is what makes it fast (detection alone on LivePortrait's 480-512 px head-and-shoulders
clips on 2 cores: 18-19 ms a frame with one graph, 10-12 with two following the halves of each chunk at once).

The points are mapped to the layouts the pose-guided models read:
- face: the 468-point mesh -> 68 iBUG points through ``MEDIAPIPE_TO_IBUG68`` (the jaw is approximate);
- body: BlazePose's 33 joints -> OpenPose-18 (the neck is the shoulders' midpoint), scores its visibility;
- hands: 21 points each, the person's left then right (DWPose's order), score 1 where the hand was found
  (MediaPipe gives a hand as a whole, not per point).
Joints BlazePose places outside the picture or sees with visibility below ``min_visibility`` are missing, and so
are hand points placed outside the picture.

Holistic finds the face through the body; where it finds none (a close-up with no shoulders, a face at the
frame's edge), the face mesh alone looks at the whole picture (MediaPipe's face detector, then the mesh), so a
face is not lost for want of a body.

The graph is Holistic's own (``HolisticLandmarkCpu``: the same subgraphs, models and settings) with one change:
each hand is looked for only where, in the previous frame, the body's wrist on that side was inside the picture or
that hand was found. Holistic looks for each hand wherever BlazePose's wrist is at all likely (visibility 0.1,
its own gate, which stays): on a head-and-shoulders video that is twice a frame below the picture's bottom edge,
mostly for nothing (LivePortrait's d12: 14 hands, fingers poking in at the edge, in 366 tries), 40% of the detection
time there. What the gate costs: those edge hands, and a hand whose wrist comes into the picture is picked up a
frame later. ``holistic_hands=True`` looks for every hand as Holistic does. On dance videos (wrists in the picture)
the points are Holistic's, point for point (tested; measured: the same 322 and 405 hands in 300 frames of two).
Raising the wrist's visibility gate as well would spare head-and-shoulders clips whose wrists sit just inside the
bottom edge (d6: 1 hand in 413 tries, 4 ms a frame), but costs a dancer's hands: at 0.15, 0.2 and 0.3, 4, 11 and 23
of 405 were missed.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...tracking import region_around
from ..hookspecs import hookimpl
from ..types import Detections, DetectorSpec, rgb_image
from .mediapipe_detector import MEDIAPIPE_TO_IBUG68, _quiet_stderr

# BlazePose's 33 joints -> OpenPose-18 positions; 1 (neck) is the shoulders' midpoint. Both name the person's
# own left and right: BlazePose 12 "right shoulder" is OpenPose 2 "RShoulder".
BLAZEPOSE_TO_OPENPOSE = {0: 0, 12: 2, 14: 3, 16: 4, 11: 5, 13: 6, 15: 7, 24: 8, 26: 9, 28: 10, 23: 11, 25: 12, 27: 13,
                         5: 14, 2: 15, 8: 16, 7: 17}


@dataclass(frozen=True)
class HolisticOptions:
    min_detection_confidence: float = 0.5
    """Score a person needs to be found when nobody is being followed."""
    min_tracking_confidence: float = 0.5
    """Below this, the person is searched for again instead of followed from the previous frame."""
    min_visibility: float = 0.3
    """Body joints seen with a lower visibility are left out (OpenPose's and DWPose's drawing cut-off)."""
    holistic_hands: bool = False
    """Look for each hand wherever MediaPipe Holistic does, not only where the body's wrist was inside the picture
    or the hand found in the previous frame (slower on head-and-shoulders videos; see the module docstring)."""
    workers: int = 2
    """Parts of a chunk of frames followed at once, each by its own Holistic graph; the first goes on from the
    previous chunk, the others start from a fresh detection (a graph keeps about one core busy; two on 2 cores
    detect 1.4x faster). 1: one graph follows the whole video."""


def _import_mediapipe():
    # MediaPipe's C++ logs through glog to the process's stderr: its INFO lines stay off the user's terminal (set
    # before the first import). Its absl warnings and LiteRT's banner are not governed by this: the calls below
    # send stderr to /dev/null while they run (a failure still raises, with MediaPipe's message).
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        from mediapipe.python.solutions import face_detection, face_mesh
    except ImportError as e:
        raise ImportError("the holistic detector runs MediaPipe 0.10.14's Holistic solution, in the default install on "
                          "Python <= 3.12: pip install \"mediapipe==0.10.14\" (or use --detector dlib)") from e
    return face_detection, face_mesh


def _hand_nodes(side: str, pose_points: tuple[int, int, int]) -> str:
    """One hand, as Holistic's HandLandmarksLeftAndRightCpu finds it (its wrist, pinky and index knuckles from the
    body), behind a gate the caller opens frame by frame."""
    ranges = " ".join(f"ranges {{ begin: {i} end: {i + 1} }}" for i in pose_points)
    return f"""
node {{
  calculator: "SplitNormalizedLandmarkListCalculator"
  input_stream: "pose_landmarks"
  output_stream: "{side}_hand_from_pose"
  options {{ [mediapipe.SplitVectorCalculatorOptions.ext] {{ {ranges} combine_outputs: true }} }}
}}
node {{
  calculator: "GateCalculator"
  input_stream: "{side}_hand_from_pose"
  input_stream: "ALLOW:allow_{side}"
  output_stream: "{side}_hand_from_pose_allowed"
}}
node {{
  calculator: "HandLandmarksFromPoseCpu"
  input_stream: "IMAGE:image"
  input_stream: "HAND_LANDMARKS_FROM_POSE:{side}_hand_from_pose_allowed"
  output_stream: "HAND_LANDMARKS:{side}_hand_landmarks"
}}"""


# MediaPipe's HolisticLandmarkCpu, node for node, with a gate in front of each hand (see the module docstring).
_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ALLOW_LEFT:allow_left"
input_stream: "ALLOW_RIGHT:allow_right"
output_stream: "POSE_LANDMARKS:pose_landmarks"
output_stream: "FACE_LANDMARKS:face_landmarks"
output_stream: "LEFT_HAND_LANDMARKS:left_hand_landmarks"
output_stream: "RIGHT_HAND_LANDMARKS:right_hand_landmarks"
input_side_packet: "MODEL_COMPLEXITY:model_complexity"
input_side_packet: "SMOOTH_LANDMARKS:smooth_landmarks"
input_side_packet: "USE_PREV_LANDMARKS:use_prev_landmarks"
node {
  calculator: "PoseLandmarkCpu"
  input_stream: "IMAGE:image"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_side_packet: "SMOOTH_LANDMARKS:smooth_landmarks"
  input_side_packet: "USE_PREV_LANDMARKS:use_prev_landmarks"
  output_stream: "LANDMARKS:pose_landmarks"
}
node {
  calculator: "SplitNormalizedLandmarkListCalculator"
  input_stream: "pose_landmarks"
  output_stream: "face_landmarks_from_pose"
  options { [mediapipe.SplitVectorCalculatorOptions.ext] { ranges { begin: 0 end: 11 } } }
}
node {
  calculator: "FaceLandmarksFromPoseCpu"
  input_stream: "IMAGE:image"
  input_stream: "FACE_LANDMARKS_FROM_POSE:face_landmarks_from_pose"
  output_stream: "FACE_LANDMARKS:face_landmarks"
}
""" + _hand_nodes("left", (15, 17, 19)) + _hand_nodes("right", (16, 18, 20))

# BlazePose's wrists, the person's left then right (the order of the hands above)
_WRISTS = (15, 16)


def hands_to_look_for(result) -> tuple[bool, bool]:
    """(left, right): whether to look for each hand in the next frame, given this frame's graph output: where its
    hand was found, or the body's wrist is inside the picture; both where there is no body (nothing to go by). The
    graph's own gate (the wrist's visibility at least 0.1) still applies."""
    if result.pose_landmarks is None:
        return True, True
    found = (result.left_hand_landmarks is not None, result.right_hand_landmarks is not None)
    wrists = [result.pose_landmarks.landmark[j] for j in _WRISTS]
    return tuple(bool(f or (0.0 <= p.x < 1.0 and 0.0 <= p.y < 1.0)) for p, f in zip(wrists, found))


def _follower(options: HolisticOptions):
    """A graph that follows one person from frame to frame (MediaPipe's Holistic settings: the full pose model,
    landmarks smoothed, each frame's regions from the previous frame's landmarks)."""
    from google.protobuf import text_format
    from mediapipe.framework import calculator_pb2
    from mediapipe.python.solution_base import SolutionBase

    class Follower(SolutionBase):
        def __init__(self) -> None:
            super().__init__(
                graph_config=text_format.Parse(_GRAPH, calculator_pb2.CalculatorGraphConfig()),
                side_inputs={"model_complexity": 1, "smooth_landmarks": True, "use_prev_landmarks": True},
                calculator_params={  # the names Holistic gives these thresholds
                    "poselandmarkcpu__posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh":
                        options.min_detection_confidence,
                    "poselandmarkcpu__poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator.threshold":
                        options.min_tracking_confidence,
                })
            self._allow = (True, True)
            self._fresh = True

        def reset(self) -> None:
            # A graph that has seen nothing yet is as good as new: restarting it would wait for its models to load
            # and then load them again (0.1 s).
            if not self._fresh:
                super().reset()
            self._allow = (True, True)  # a new person: each hand is looked for where the body says it may be
            self._fresh = True

        def process(self, image: np.ndarray):
            self._fresh = False
            r = super().process({"image": image, "allow_left": self._allow[0], "allow_right": self._allow[1]})
            self._allow = (True, True) if options.holistic_hands else hands_to_look_for(r)
            return r

    return Follower()


@contextlib.contextmanager
def _quiet():
    """MediaPipe's own noise: the TFLite delegate banner on stderr and protobuf's deprecation warning."""
    with _quiet_stderr(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated", category=UserWarning)
        yield


def _close_all(resources: list) -> None:
    """Closes the graphs (which may still print as they stop: kept quiet too) and shuts the thread pool down."""
    with _quiet_stderr():
        for r in resources:
            try:
                r.shutdown(wait=True) if hasattr(r, "shutdown") else r.close()
            except Exception:  # closing at exit or collection: nothing more to do
                pass
    resources.clear()


class HolisticDetector:
    """``detect`` takes independent pictures; ``track`` takes the frames of one video in order, in chunks
    (DetectorSpec.tracks). One caller at a time. Its MediaPipe graphs (about 150 MB each) are freed by ``close()``
    (or ``with``), else when the detector is collected."""

    scheme = "ibug68"

    def __init__(self, options: HolisticOptions) -> None:
        if not (isinstance(options.workers, int) and 1 <= options.workers <= 16):
            raise ValueError(f"workers must be a whole number from 1 to 16, got {options.workers!r}")
        if not isinstance(options.holistic_hands, bool):
            raise ValueError(f"holistic_hands must be true or false, got {options.holistic_hands!r}")
        for name in ("min_detection_confidence", "min_tracking_confidence", "min_visibility"):
            if not 0.0 <= getattr(options, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(options, name)!r}")
        self._faces, self._mesh = _import_mediapipe()
        self._options = options
        self._streams: list = []
        self._last: int | None = None  # the graph that saw the previous chunk's last frame
        self._pool = None
        self._meshes = None
        self._finder = None
        self._resources: list = []  # every graph and the thread pool, to close
        self._finalizer = weakref.finalize(self, _close_all, self._resources)

    def close(self) -> None:
        """Frees the MediaPipe graphs and the worker threads; the detector is not usable afterwards."""
        self._finalizer()
        self._streams, self._pool, self._meshes, self._finder, self._last = [], None, None, None, None

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise RuntimeError("this holistic detector was closed; make a new one")

    def __enter__(self) -> "HolisticDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _keep(self, resource):
        self._resources.append(resource)
        return resource

    def _stream_solution(self):
        """A Holistic graph that follows the person from frame to frame."""
        return self._keep(_follower(self._options))

    def _finder_solution(self):
        if self._finder is None:
            self._finder = self._keep(self._faces.FaceDetection(model_selection=1, min_detection_confidence=0.5))
        return self._finder

    # MediaPipe prints and warns from its graphs' threads: the public calls below keep the whole call quiet, from
    # the calling thread (one redirection and one filter change, never one per worker, which would race).

    def detect(self, images: Sequence[np.ndarray], boxes: np.ndarray | None = None) -> Detections:
        """Pictures, each on its own. Holistic follows one person; ``num_faces`` counts the faces BlazeFace (full
        range) sees, so that a picture of two people is told apart. Where a face box is given (a render of a fitted
        face, which has no body), the face mesh alone is run on the box's surroundings."""
        self._check_open()
        images = [rgb_image(im, "holistic", i) for i, im in enumerate(images)]
        boxed = np.zeros(len(images), bool) if boxes is None else np.isfinite(np.asarray(boxes, np.float64)).all(1)
        with _quiet():
            results = [(im.shape[:2], None) for im in images]
            if (~boxed).any():  # each picture on its own: a follower graph started afresh for each
                if not self._streams:
                    self._streams.append(self._stream_solution())
                for i in np.flatnonzero(~boxed):
                    self._streams[0].reset()
                    results[i] = (images[i].shape[:2], self._streams[0].process(images[i]))
                self._last = None  # no graph goes on from a video's last frame now
                found = self._convert(results)
                self._faces_alone(found, images, np.flatnonzero(~boxed))
                for i in np.flatnonzero(~boxed):
                    if found.num_faces[i]:
                        found.num_faces[i] = max(1, len(self._finder_solution().process(images[i]).detections or ()))
            else:
                found = self._convert(results)
            for i in np.flatnonzero(boxed):
                self._face_in_box(found, i, images[i], np.asarray(boxes[i], np.float64))
        return found

    def _mesh_solution(self):
        if self._meshes is None:
            self._meshes = self._keep(self._mesh.FaceMesh(static_image_mode=True, max_num_faces=1, min_detection_confidence=0.5))
        return self._meshes

    def _faces_alone(self, found: Detections, images: Sequence[np.ndarray], rows: np.ndarray) -> Detections:
        """Where Holistic found no face (no body to find it through): MediaPipe's full-range face detector on the
        whole picture, then the face mesh in the largest face's surroundings."""
        for i in rows:
            if found.found[i]:
                continue
            faces = self._finder_solution().process(images[i]).detections
            if not faces:
                continue
            h, w = images[i].shape[:2]
            boxes = [f.location_data.relative_bounding_box for f in faces]
            b = max(boxes, key=lambda b: b.width * b.height)
            self._face_in_box(found, i, images[i], np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h]))
        return found

    def _face_in_box(self, found: Detections, i: int, image: np.ndarray, box: np.ndarray) -> None:
        region = region_around(box, image.shape[1], image.shape[0])
        if region is None:
            return
        lo, hi = region[:2], region[2:]
        crop = np.ascontiguousarray(image[lo[1]:hi[1], lo[0]:hi[0]])
        faces = self._mesh_solution().process(crop).multi_face_landmarks
        if not faces:
            return
        size = np.array([crop.shape[1], crop.shape[0]], np.float32)
        mesh = np.array([(p.x, p.y) for p in faces[0].landmark], np.float32) * size + lo
        face = mesh[MEDIAPIPE_TO_IBUG68]
        found.landmarks[i], found.confidences[i], found.num_faces[i] = face, 1.0, 1
        found.boxes[i] = (*face.min(0), *face.max(0))

    def track(self, frames: Sequence[np.ndarray], first: bool, progress: Callable[[int], None] | None = None) -> Detections:
        """Consecutive frames of a video; ``first``: they start a new one (the person is searched for afresh);
        ``progress(1)`` is called as each frame is done.
        A chunk of at least ``2 * MIN_PART`` frames is cut into ``workers`` parts followed at once by as many graphs.
        The first part goes on in the graph that saw the previous chunk's last frame; the others start from a fresh
        detection (as a new video does)."""
        self._check_open()
        frames = [rgb_image(im, "holistic", i) for i, im in enumerate(frames)]
        parts = max(1, min(self._options.workers, len(frames) // self.MIN_PART))
        with _quiet():
            while len(self._streams) < parts:
                self._streams.append(self._stream_solution())
            # graphs in the order of the parts: the one that saw the last frame first, if this chunk goes on from it
            going_on = not first and self._last is not None
            order = sorted(range(len(self._streams)), key=lambda k: k != self._last if going_on else k)[:parts]
            for j, k in enumerate(order):
                if j > 0 or not going_on:
                    self._streams[k].reset()
            self._last = None  # until this chunk is through: after a failure, the next chunk starts afresh
            bounds = np.linspace(0, len(frames), parts + 1).round().astype(int)
            pieces = [frames[bounds[j]:bounds[j + 1]] for j in range(parts)]
            if parts == 1:
                results = self._follow(order[0], pieces[0], progress)
            else:
                from concurrent.futures import ThreadPoolExecutor, wait

                if self._pool is None:  # MediaPipe's graph waits without the GIL: threads run the parts side by side
                    self._pool = self._keep(ThreadPoolExecutor(self._options.workers, thread_name_prefix="faceflt-holistic"))
                jobs = [self._pool.submit(self._follow, k, piece, progress) for k, piece in zip(order, pieces)]
                wait(jobs)  # every part done before anything is raised: no graph is busy when the next call resets it
                results = [r for job in jobs for r in job.result()]
            self._last = order[-1]  # the graph that saw this chunk's last frame
            return self._faces_alone(self._convert(results), frames, np.arange(len(frames)))

    MIN_PART = 16
    """Frames a part needs to be worth a fresh detection and a graph restart (about 0.1 s)."""

    def _follow(self, k: int, frames: list[np.ndarray], progress: Callable[[int], None] | None = None) -> list:
        results = []
        for im in frames:
            results.append((im.shape[:2], self._streams[k].process(im)))
            if progress is not None:
                progress(1)
        return results

    def _convert(self, results) -> Detections:
        n = len(results)
        out = Detections.empty(n, self.scheme)
        body, body_scores = np.full((n, 18, 2), np.nan, np.float32), np.zeros((n, 18), np.float32)
        hands, hand_scores = np.full((n, 2, 21, 2), np.nan, np.float32), np.zeros((n, 2, 21), np.float32)
        for i, ((h, w), r) in enumerate(results):
            if r is None:  # not run here (a face in a given box)
                continue
            size = np.array([w, h], np.float32)
            points = lambda lms: np.array([(p.x, p.y) for p in lms.landmark], np.float32) * size
            if r.pose_landmarks is not None:
                out.num_faces[i] = 1
                joints = points(r.pose_landmarks)
                seen = np.array([p.visibility for p in r.pose_landmarks.landmark], np.float32)
                inside = ((joints >= 0) & (joints < size)).all(1)
                seen = np.where(inside & (seen >= self._options.min_visibility), seen, 0.0)
                for src, dst in BLAZEPOSE_TO_OPENPOSE.items():
                    if seen[src] > 0:
                        body[i, dst], body_scores[i, dst] = joints[src], seen[src]
                if seen[11] > 0 and seen[12] > 0:
                    body[i, 1], body_scores[i, 1] = (joints[11] + joints[12]) / 2, min(seen[11], seen[12])
            for side, lms in enumerate((r.left_hand_landmarks, r.right_hand_landmarks)):
                if lms is not None:  # a hand at the picture's edge: the points beyond it are missing, as for the body
                    pts = points(lms)
                    inside = ((pts >= 0) & (pts < size)).all(1)
                    hands[i, side] = np.where(inside[:, None], pts, np.nan)
                    hand_scores[i, side] = inside
            if r.face_landmarks is not None:
                face = points(r.face_landmarks)[MEDIAPIPE_TO_IBUG68]
                out.landmarks[i], out.confidences[i] = face, 1.0
                out.boxes[i] = (*face.min(0), *face.max(0))
        return Detections(landmarks=out.landmarks, confidences=out.confidences, boxes=out.boxes, scheme=self.scheme,
                          body=body, body_scores=body_scores, hands=hands, hand_scores=hand_scores, num_faces=out.num_faces)


@hookimpl
def faceflt_register_detectors() -> list[DetectorSpec]:
    return [DetectorSpec(name="holistic", scheme="ibug68", options=HolisticOptions, factory=HolisticDetector,
                         tracks=True, whole_body=True, requires=("mediapipe",), install='pip install "mediapipe==0.10.14"',
                         description="MediaPipe Holistic: body (OpenPose-18), hands and face (68 from the 468-point mesh) "
                                     "in one pass, following the person through the video; the default")]
