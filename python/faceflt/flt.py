"""The FLT modes: the driving track and the reference face -> the FLT landmarks of every frame.

One function per mode, all on the same fitted parameters (``driving.DrivingTrack``):

``relative`` (default): the driver's motion relative to its own neutral face, given to the reference's
    face (LivePortrait's relative motion, done with the 3D face model). Every landmark, the reference's
    and the driver's, is lifted into the model's canonical frame (``fitting.lift``: on its camera ray at
    the fitted face's depth; what the pictures show beyond the model stays). The driver's neutral face is
    the median of its frontal frames with the mouth closed, as the detector saw them (in a clip with fewer
    than 5 such frames, the model's estimate: its least expressive frames less the fitted expression); the
    reference's face is its picture with the fitted expression taken away, as far as it goes beyond the
    driver's at rest, seen at half its fitted pitch difference from the driver at rest (``PITCH_TRUST``).
    The difference between the two
    (the reference scaled to the driver's eye distance and centred on the driver's eyes and nose; the
    inner lips' opening left to the driver) is the identity change; each frame's output is the driver's
    own landmarks (their detector noise low-passed out) moved by that change seen under the frame's camera.
    The driver's identity is never estimated from the model, so an expression held through the clip does not
    leak into the identity, and whatever moves in the driver (blinks, lip shapes, asymmetries) moves alike in
    the output.
``project``: the fused face's landmarks (the reference's shape coefficients with the driver's expression
    and camera), jaw following the silhouette (the paper's method without the re-detection).
``redetect`` (the paper's): the fused face rendered with the reference's texture and its landmarks
    detected again with the same detector.
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass, replace

import numpy as np

from . import _core
from .driving import DrivingTrack
from .errors import InputError
from .fitting import Cameras, FitResult, fuse, lift
from .plugins.types import MIN_FACE_POINTS, checked, face_found
from .progress import Progress
from .smoothing import lowpass

__all__ = ["Mode", "Neutral", "Reference", "driver_neutral", "flt_landmarks", "identity_change", "project", "redetect",
           "relative"]


class Mode(str, enum.Enum):
    RELATIVE = "relative"
    PROJECT = "project"
    REDETECT = "redetect"

    @classmethod
    def parse(cls, value: str | Mode) -> Mode:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"mode must be one of {', '.join(m.value for m in cls)}, got {value!r}") from None


@dataclass(frozen=True)
class Reference:
    """The reference person: detected landmarks of its picture(s), their joint fit, and the pictures."""

    landmarks: np.ndarray
    """float32 (R, 68, 2), pixels."""
    fit: FitResult
    """One identity over the R pictures (``driving.fit_reference``)."""
    images: tuple[np.ndarray, ...] = ()
    """uint8 (H, W, 3) RGB per picture; needed by ``redetect`` only."""


# The points that move least with expression: eye corners and the nose. The reference face is centred
# on the driver's over these.
_RIGID = [27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45]
# The driver's neutral face is the median of its frames turned less than this many degrees with the mouth
# closed (inner lips less than this many eye distances apart).
_NEUTRAL_MAX_YAW = 15.0
_NEUTRAL_MOUTH_GAP = 0.04
_NEUTRAL_MIN_FRAMES = 5
# How much of the fitted pitch difference between the reference picture and the driver at rest is believed
# (``identity_change``). From 68 points a fitted pitch also holds some of the face's proportions. Measured against
# an independent pitch (MediaPipe's face mesh, evaluation.head_pose) over the ordered pairs of 41 people, the best
# linear estimate of the true difference is 0.68 of the fitted one (correlation 0.89; an upper bound, since both
# may read a long face as a lowered head); on faces drawn from the model (tools/synthetic_protocol.py, 8 people,
# seed 0) the landmarks come nearest the exact answer at 0.15 with every camera level (0.0187 eye distances, 0.0204
# at a half) and at 0.65 with the cameras up to 12 degrees apart (0.0273, 0.0280 at a half): a half is between; and
# at a half the resting driver still gives back the reference picture within 2% of the eye distance where the fit
# misreads two level faces' pitch difference by 5-8 degrees (tests/test_evaluation.py).
PITCH_TRUST = 0.5
# Upper and lower inner lip points facing each other: how far apart they are is expression (the mouth's
# opening), so the identity change moves each pair together.
_INNER_LIPS = ((61, 67), (62, 66), (63, 65))
# Hz: what the driver's landmarks keep at the default smoothing (speech and blinks lie below it; above it,
# up to half the frame rate, is mostly the detector's noise).
_LIGHT_CUTOFF = 10.0


def _light_filter(landmarks: np.ndarray, fps: float, smoothing: float) -> np.ndarray:
    """The detector's frame-to-frame noise out, the face's motion kept: a zero-phase low-pass at
    _LIGHT_CUTOFF / ``smoothing`` Hz (``smoothing.lowpass``; 0: off; none either where that is half the frame
    rate or more). In place of a One-Euro filter at the same cutoff, whose gentle slope took 3-5% off the
    amplitude of lips and eyes: `faceflt eval identity` over 18 people, amplitude 0.96 -> 0.99, jitter
    0.64 -> 0.61, identity the same (docs/identity.md, its last section)."""
    if smoothing <= 0:
        return landmarks.astype(np.float32)
    seen = np.isfinite(landmarks).all((1, 2))
    filtered = lowpass(np.nan_to_num(landmarks).reshape(len(landmarks), -1), seen, fps, _LIGHT_CUTOFF / smoothing)
    return np.where(seen[:, None, None], filtered.reshape(landmarks.shape), landmarks).astype(np.float32)


@dataclass(frozen=True)
class Neutral:
    """The driver's neutral face, the pitch it was seen at and the expression the fit reads on it."""

    points: np.ndarray
    """float32 (68, 3), model units, canonical frame."""
    pitch: float
    """Degrees: the median fitted pitch of the frames the neutral face was taken from."""
    expression: np.ndarray | None = None
    """float32 (K,): the blendshape weights the model reads on the driver at rest (the median fitted expression
    of the frames the neutral face was taken from; None where the neutral face is the model's estimate, its fitted
    expression taken away): how much "expression" a face at rest gets from the fit, which the reference picture
    keeps (``identity_change``)."""


def _mouth_gap(points: np.ndarray) -> np.ndarray:
    """(N, 68, 2) landmarks -> (N,): the inner lips' mean opening in the pictures, in outer-eye-corner
    distances (NaN where a point is missing)."""
    eyes = np.linalg.norm(points[:, 45] - points[:, 36], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.mean([np.linalg.norm(points[:, i] - points[:, j], axis=-1) for i, j in _INNER_LIPS], 0) / eyes


def driver_neutral(model, track: DrivingTrack) -> Neutral:
    """The driver's neutral face: the median of its lifted landmarks over the frames turned less than
    _NEUTRAL_MAX_YAW with the mouth closed (with fewer than _NEUTRAL_MIN_FRAMES of those, see the fallback
    below). What the driver looks like at rest, taken from what the detector saw: no fitted
    expression is subtracted, since a face model's expression fit on a resting face is partly the
    person's identity (a wide jaw read as a stretched mouth), and what is subtracted wrongly would come
    back in the output. Measured with `faceflt eval identity` against the median of the quarter of
    frames with the least fitted expression, less that expression: developer set 0.67 -> 0.68, held-out
    people 0.67 -> 0.76 and 0.57 -> 0.66. A driver that holds one expression through most of its
    frontal, closed-mouth frames gives that expression to its neutral face: the output keeps the
    reference's identity there and the driver's motion around it, not the held expression."""
    shape = track.driver.shape_coeffs[0]
    usable = track.valid & ~track.interpolated & face_found(track.landmarks)
    rows = np.flatnonzero(usable)
    fits = track.cameras.select(rows)
    lifted = lift(model, shape, fits, track.landmarks[rows])
    # A point a detector could not place (NaN: DWPose's below its threshold, a plugin's occluded point) is left out
    # of the median of its own column only; a frame needs its eye corners and inner lips to count as mouth-closed.
    frontal = np.abs(fits.yaw_pitch_roll[:, 0]) <= _NEUTRAL_MAX_YAW
    with np.errstate(invalid="ignore"):
        closed = frontal & (_mouth_gap(track.landmarks[rows]) < _NEUTRAL_MOUTH_GAP)
    if closed.sum() >= _NEUTRAL_MIN_FRAMES:
        return Neutral(_median(lifted.points[closed]), float(np.median(fits.yaw_pitch_roll[closed, 1])),
                       np.median(fits.expression_coeffs[closed], 0).astype(np.float32))
    # Fewer than _NEUTRAL_MIN_FRAMES resting frames (a mouth open throughout: singing, a held shout): only
    # the model can say what the driver looks like at rest, so the quarter of the frontal frames (or, with
    # fewer than _NEUTRAL_MIN_FRAMES of those, of all frames) with the least fitted expression, less that
    # expression, make the neutral face.
    with warnings.catch_warnings():  # a frame's expression is measured at the points it has
        warnings.simplefilter("ignore", RuntimeWarning)
        energy = np.nanmean(np.linalg.norm(lifted.expression, axis=-1), 1)
    frontal &= np.isfinite(energy)
    fitted = np.isfinite(energy)
    pool = frontal if frontal.sum() >= _NEUTRAL_MIN_FRAMES else fitted
    if not pool.any():
        raise InputError(f"no driving frame has a fitted face with at least {MIN_FACE_POINTS} landmarks; check the video, or try another --detector")
    calm = pool & (energy <= np.quantile(energy[pool], 0.25))
    return Neutral(_median(lifted.neutral[calm]), float(np.median(fits.yaw_pitch_roll[calm, 1])))


def _median(points: np.ndarray) -> np.ndarray:
    """(N, 68, 3) -> (68, 3) float32: each point's median over the frames where it is known (NaN where never)."""
    known = np.isfinite(points).all(-1)
    if known.all():
        return np.median(points, 0).astype(np.float32)
    out = np.full(points.shape[1:], np.nan, np.float32)
    for i in np.flatnonzero(known.any(0)):
        out[i] = np.median(points[known[:, i], i], 0)
    return out


def identity_change(model, reference: Reference, neutral: Neutral) -> np.ndarray:
    """(68, 3) model units: the reference's lifted face (neutralised, scaled to the driver's eye distance,
    centred on the driver's rigid points) minus the driver's neutral face; 0 where either is unknown. The
    inner lips' facing pairs (_INNER_LIPS) move together, by the mean of their changes (or the known one's),
    so that how far the mouth is open stays the driver's.

    The reference picture is lifted with its own fitted camera, but with only PITCH_TRUST of its fitted pitch
    difference from the driver's neutral frames: the output is the reference face seen at each driving frame's pose,
    as the skeleton it is drawn with, as far as the fit can tell that pose from the face's proportions. The
    identity features read off 2D landmarks change with pitch (a jaw's width at a given height under the eyes: 0.5-1.2
    between-person spreads per 10 degrees), and a picture and a driving video are often filmed 5-10 degrees apart.
    Lifting the picture at the driver's neutral pitch instead (PITCH_TRUST = 0, until session 11) kept the picture's
    look at the picture's pitch whatever the driver's. Measured with `faceflt eval identity` against the reference
    person's own frames at the driver's head pose (MediaPipe's, not this fit's): 25 real people +0.04 [+0.02, +0.06]
    frontal and +0.03 [+0.01, +0.05] under head turns, negative pairs 40 -> 30; 15 generated faces +0.05 [+0.02,
    +0.08] and +0.02, negative pairs 36 -> 26. Against the reference person at their own usual pose, which rewards
    keeping the picture's pitch: -0.04 [-0.06, -0.01] on the real people, negative pairs 39 -> 56; +0.00 on the
    generated faces (docs/identity.md, "Head pitch").

    Unlike the driver's many frames, the picture is one moment that may hold an expression, so its fitted
    expression is taken away (taking the picture as it is measured 0.68, 0.73 and 0.62 on the same sets), but
    only what goes beyond the driver's at rest (``Neutral.expression``). The fit's blendshape weights cannot
    be negative, so on a face at rest they still read some expression (a long chin as a dropped jaw), and
    taking all of it away raised the picture's chin by 0.01-0.03 eye distances on every set of people; the
    driver's resting frames show what the fit reads on a face at rest. Measured with `faceflt eval identity`
    (docs/identity.md, "The picture's fitted expression"): the 25 real people -0.001 [-0.011, +0.009] frontal
    and -0.001 under head turns; 15 generated faces (VASA-1's) +0.040 [+0.018, +0.067] and +0.045, negative
    pairs 26 -> 16."""
    ref = reference.fit
    ypr = ref.yaw_pitch_roll.copy()
    ypr[:, 1] = neutral.pitch + PITCH_TRUST * (ypr[:, 1] - neutral.pitch)
    rest = 0.0 if neutral.expression is None else neutral.expression
    beyond_rest = np.maximum(ref.expression_coeffs - rest, 0).astype(np.float32)
    seen_as = replace(ref.cameras, expression_coeffs=beyond_rest, rotation=_core.rotations_from_yaw_pitch_roll(ypr),
                      yaw_pitch_roll=ypr)
    each = lift(model, ref.shape_coeffs[0], seen_as, reference.landmarks).neutral
    seen = np.isfinite(each).all(-1)
    lifted = np.where(seen.any(0)[:, None], np.nan_to_num(each).sum(0) / np.maximum(seen.sum(0), 1)[:, None], np.nan)
    n = neutral.points
    rigid = [i for i in _RIGID if np.isfinite(lifted[i]).all() and np.isfinite(n[i]).all()]
    if len(rigid) < 3:
        raise InputError("the reference picture's eyes and nose were not found well enough to transfer its face; "
                         "use a clearer picture, or another --reference-detector")
    # the driver's face size, measured by the outer eye corners (the unit of every expression offset),
    # or, where one is missing, by the spread of the eyes and nose
    if np.isfinite(lifted[[36, 45]]).all() and np.isfinite(n[[36, 45]]).all():
        scale = np.linalg.norm(n[45] - n[36]) / np.linalg.norm(lifted[45] - lifted[36])
    else:
        spread = lambda p: np.sqrt(((p[rigid] - p[rigid].mean(0)) ** 2).sum(1).mean())
        scale = spread(n) / spread(lifted)
    centred = n[rigid].mean(0) + scale * (lifted - lifted[rigid].mean(0))
    change = centred - n
    for i, j in _INNER_LIPS:
        pair = change[[i, j]]
        known = np.isfinite(pair).all(1)
        if known.any():
            change[[i, j]] = pair[known].mean(0)
    return np.nan_to_num(change).astype(np.float32)


def relative(model, reference: Reference, track: DrivingTrack, smoothing: float = 1.0,
             neutral: Neutral | None = None) -> np.ndarray:
    """The ``relative`` mode (see the module docstring): (T, 68, 2) pixels, NaN where no fit. ``neutral``: the driver's
    neutral face (default: ``driver_neutral``)."""
    change = identity_change(model, reference, driver_neutral(model, track) if neutral is None else neutral)
    cams = track.cameras
    moved = _core.project_offsets(change, cams.bound())
    base = _light_filter(track.landmarks, track.fps, smoothing)
    # where the detector gave nothing (interpolated frames, missing points), the driver's fitted face stands in
    holes = np.flatnonzero(cams.ok & ~np.isfinite(base).all((1, 2)))
    if len(holes):
        fitted = fuse(model, track.driver.shape_coeffs[0], cams.select(holes), guides=track.landmarks[holes]).landmarks
        base[holes] = np.where(np.isfinite(base[holes]), base[holes], fitted)
    out = base + moved
    out[~cams.ok] = np.nan
    return out.astype(np.float32)


def project(model, reference: Reference, track: DrivingTrack) -> np.ndarray:
    """The ``project`` mode: the fused face's landmarks, the jaw on the silhouette nearest the driver's."""
    return fuse(model, reference.fit.shape_coeffs[0], track.cameras, guides=track.landmarks).landmarks


def fused_chunks(model, reference: FitResult, cameras: Cameras, guides: np.ndarray, frames: np.ndarray, size: int = 32):
    """Yields (frame indices, FusedResult with meshes) block by block, so that only a block of meshes
    (3448 x 3 floats a frame) is held, whatever the length of the video."""
    for start in range(0, len(frames), size):
        chunk = np.asarray(frames[start : start + size])
        yield chunk, fuse(model, reference.shape_coeffs[0], cameras.select(chunk), guides=guides[chunk], return_mesh=True)


def redetect(model, reference: Reference, track: DrivingTrack, detector, progress: bool = False) -> np.ndarray:
    """The ``redetect`` mode: the fused face rendered with the reference picture's texture, re-detected."""
    from .render import Renderer
    from .tracking import bbox

    if not reference.images:
        raise ValueError("redetect needs the reference picture (Reference.images)")
    renderer = Renderer(model, track.size)
    renderer.set_reference(reference.images[0], reference.fit, 0)
    out = np.full_like(track.landmarks, np.nan)
    valid = np.flatnonzero(track.cameras.ok)
    bar = Progress("re-detecting", len(valid), progress)
    for chunk, fused in fused_chunks(model, reference.fit, track.cameras, track.landmarks, valid):
        renders = renderer.render_batch(fused.vertices, track.cameras.select(chunk)).rgba[..., :3]
        # The face box is known (the projected fused face), so face detection is skipped on the render.
        boxes = np.stack([bbox(face) for face in fused.landmarks])
        out[chunk] = checked(detector.detect(list(renders), boxes=boxes), type(detector).__name__, len(chunk)).landmarks
        bar.step(len(chunk))
    bar.close()
    return out


def flt_landmarks(model, mode: Mode | str, reference: Reference, track: DrivingTrack, *, smoothing: float = 1.0,
                  detector=None, progress: bool = False) -> np.ndarray:
    """The FLT landmarks (T, 68, 2) of one mode, pixels in the driving frames; NaN where no face."""
    mode = Mode.parse(mode)
    if mode is Mode.RELATIVE:
        out = relative(model, reference, track, smoothing)
    elif mode is Mode.PROJECT:
        out = project(model, reference, track)
    else:
        if detector is None:
            raise ValueError("redetect needs the detector to run on the renders")
        out = redetect(model, reference, track, detector, progress)
    out = np.asarray(out, np.float32).copy()
    out[~track.valid] = np.nan
    return out
