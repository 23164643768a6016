"""The identity-transfer protocol (``faceflt eval identity``): does FLT make the driver's face landmarks
look like the reference *person*, measured against that person's own video, while keeping the driver's
motion?

Each person is one video of one person, measured once by an independent detector run (``clips.py``).
For every ordered pair (A <- B), B driving and A the reference:

- **Reference picture**: the frame of A's video, from its first third, that is most frontal with the
  mouth closed. **A's identity**: A's own frames from the last two thirds that are frontal and
  mouth-closed (and, for head turns, A's frames there turned to each side). So the metric never takes the
  reference picture itself as the target: copying the picture earns nothing for its pose or expression.
- **Identity distance** d(X, A): the weighted distance (``features.distance``) between X's median
  identity features over the frames where the driver is frontal with the mouth closed and A's median.
  **Identity transfer (pooled)** of a method = 1 - sum_pairs d(output, A) / sum_pairs d(driver, A): 0 is
  the driver, 1 is A; pooled, so that a pair whose driver already looks like A cannot swing the mean.
  **Under head turns**: the same over the driver's frames turned to each side (``turn`` beyond
  +-TURNED) against A's frames turned to the same side.
- **Expression fidelity**: the mean over mouth opening, eye openness, brow height and mouth width of
  the correlation with the driver's; **amplitude**: the median over them of std(output) / std(driver);
  **jitter**: mean second difference of the eye-aligned landmarks, output / driver.
- **Anchors**, in the same run on the same pairs: the driver unchanged; *paste*, the reference
  picture's landmarks similarity-aligned onto each frame (an identity ceiling with no expression); and
  *relative-2D*, the driver's motion relative to its own most neutral frame given to the reference's
  landmarks with 2D similarities only (no 3D model).
- **Self-transfer** (A <- A): the mean distance between the output and A's own landmarks, in eye
  distances.
- **At matched head pose**, where every clip has its head pose measured without the method's model
  (``Clip.head_pose``, ``head_pose.py``: MediaPipe's face mesh): the same distances, but each driving frame
  is compared with A's own mouth-closed frames of the last two thirds held at that frame's pose (yaw within
  POSE_YAW, pitch within POSE_PITCH degrees), since the identity features change with the head's pitch
  and two videos are rarely filmed at one camera height. The output should be A's face in B's pose; the
  figures above compare it with A at A's usual pose, which rewards keeping the picture's pitch whatever
  the driver's. One more anchor then: **own-frames**, A's own mouth-closed frame of the first third nearest
  to each driving frame's pose (within the same tolerance), similarity-aligned onto it: A's real face at
  the driver's pose, with no expression. Not a ceiling (the exact answer can score higher: A's first third
  is itself only as near A's later frames as a person is to themselves), but what A's own face scores.

No face model is used inside the metric: features, frame selection and anchors are plain numpy on the
detected 68 points.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .clips import Clip
from .features import FEATURES, SPREAD, distance, identity_features, mouth_gap, turn
from .metrics import EXPRESSION_FEATURES, expression_features, jitter

__all__ = ["ANCHORS", "FRONTAL", "MOUTH_CLOSED", "OWN_FRAMES", "POSE_PITCH", "POSE_YAW", "TURNED", "AtPose", "PairScores",
           "Person", "Summary", "own_frames", "paste", "person", "interval", "relative_2d", "resampled", "score_pair",
           "self_transfer_error", "summarise"]

FRONTAL = 0.08
"""|turn| at most this: a frontal frame."""
TURNED = 0.12
"""|turn| beyond this: a frame turned to that side."""
MOUTH_CLOSED = 0.04
"""mouth_gap below this (eye distances): the mouth is closed."""
MIN_FRAMES = 3
"""Fewer frames than this in a selection: that comparison is left out."""
MIN_EYE_DISTANCE = 60.0
"""Pixels: people whose median outer-eye-corner distance is smaller are left out (faces too small)."""
ANCHORS = ("driver", "paste", "relative-2d")
OWN_FRAMES = "own-frames"
"""The anchor scored where head poses are measured: A's own frames at the driver's pose."""
POSE_YAW = 4.0
POSE_PITCH = 3.0
"""Degrees: A's frames this close to a driving frame's head pose (yaw, pitch) are held at that pose."""

# Eye corners and nose: the points the 2D anchors align by similarity (they move least with expression).
_RIGID = [27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45]


def _median(features: np.ndarray) -> np.ndarray:
    out = np.full(features.shape[1], np.nan)
    for k in range(features.shape[1]):
        column = features[:, k][np.isfinite(features[:, k])]
        if len(column):
            out[k] = np.median(column)
    return out


def _seen(landmarks: np.ndarray) -> np.ndarray:
    return np.isfinite(landmarks).all((1, 2))


def _frontal_closed(landmarks: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return _seen(landmarks) & (np.abs(turn(landmarks)) <= FRONTAL) & (mouth_gap(landmarks) < MOUTH_CLOSED)


def _turned(landmarks: np.ndarray, side: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return _seen(landmarks) & (side * turn(landmarks) > TURNED) & (mouth_gap(landmarks) < MOUTH_CLOSED)


def neutral_frame(landmarks: np.ndarray, rows: np.ndarray | None = None) -> int | None:
    """The most frontal frame with the mouth closed (or, if none is closed, the least open), among
    ``rows`` (default: all); None if no frame has a face."""
    rows = np.arange(len(landmarks)) if rows is None else np.asarray(rows)
    rows = rows[_seen(landmarks[rows])]
    if not len(rows):
        return None
    gap, t = mouth_gap(landmarks[rows]), np.abs(turn(landmarks[rows]))
    closed = gap < MOUTH_CLOSED
    if closed.any():
        return int(rows[closed][np.argmin(t[closed])])
    return int(rows[np.argmin(gap + t)])


@dataclass(frozen=True)
class Person:
    """A clip made ready for the protocol."""

    clip: Clip
    reference_index: int
    """The reference picture: a frame of the first third."""
    identity: np.ndarray
    """Median identity features (FEATURES) of the frontal, mouth-closed frames of the last two thirds."""
    turned: dict[int, np.ndarray] = field(default_factory=dict)
    """side (-1, +1) -> median identity features of the frames of the last two thirds turned that way."""
    features: np.ndarray | None = None
    """(T, F) identity features of every frame, where the clip's head pose is measured (else None)."""
    posed: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    """The frames of the last two thirds with the mouth closed and a measured head pose: the matched targets."""
    early: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    """The same in the first third: the frames ``own_frames`` is made of."""

    @property
    def name(self) -> str:
        return self.clip.name

    @property
    def reference_landmarks(self) -> np.ndarray:
        return self.clip.landmarks[self.reference_index]


def person(clip: Clip) -> Person | str:
    """The clip as a protocol person, or the reason it cannot be one."""
    lms = clip.landmarks
    seen = _seen(lms)
    if seen.sum() < 10:
        return f"a face in only {int(seen.sum())} frames"
    eyes = np.linalg.norm(lms[seen, 45] - lms[seen, 36], axis=-1)
    if np.median(eyes) < MIN_EYE_DISTANCE:
        return f"face too small (eye distance {np.median(eyes):.0f} px < {MIN_EYE_DISTANCE:.0f})"
    third = len(lms) // 3
    reference = neutral_frame(lms, np.arange(third))
    if reference is None or not _frontal_closed(lms[reference : reference + 1])[0]:
        return "no frontal, mouth-closed frame in the first third"
    late = np.zeros(len(lms), bool)
    late[third:] = True
    target = late & _frontal_closed(lms)
    if target.sum() < MIN_FRAMES:
        return f"{int(target.sum())} frontal, mouth-closed frames in the last two thirds (< {MIN_FRAMES})"
    turned = {}
    for side in (-1, 1):
        rows = late & _turned(lms, side)
        if rows.sum() >= MIN_FRAMES:
            turned[side] = _median(identity_features(lms[rows]))
    if clip.head_pose is None:
        return Person(clip, reference, _median(identity_features(lms[target])), turned)
    with np.errstate(invalid="ignore"):
        closed = seen & (mouth_gap(lms) < MOUTH_CLOSED) & np.isfinite(clip.head_pose[:, :2]).all(1)
    return Person(clip, reference, _median(identity_features(lms[target])), turned, identity_features(lms),
                  np.flatnonzero(late & closed), np.flatnonzero(~late & closed))


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares similarity (Umeyama) taking src (n, 2) to dst (n, 2): (A (2, 2), b (2,))."""
    ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    s, d = src[ok], dst[ok]
    ms, md = s.mean(0), d.mean(0)
    s0, d0 = s - ms, d - md
    a = (s0 * d0).sum()
    b = (s0[:, 0] * d0[:, 1] - s0[:, 1] * d0[:, 0]).sum()
    n = (s0 ** 2).sum()
    m = np.array([[a, -b], [b, a]]) / n
    return m, md - m @ ms


def paste(reference: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """The reference picture's landmarks (68, 2), similarity-aligned onto each driving frame (T, 68, 2)
    by the eye corners and nose: the identity ceiling, with no expression."""
    out = np.full(driving.shape, np.nan)
    for t in np.flatnonzero(_seen(driving)):
        m, b = _similarity(reference[_RIGID], driving[t, _RIGID])
        out[t] = reference @ m.T + b
    return out


def relative_2d(reference: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """The driver's motion relative to its own most neutral frame, given to the reference's landmarks with
    2D similarities only: out_t = S_t(Q(reference)) + driving_t - S_t(neutral), Q aligning the reference
    onto the neutral frame and S_t the neutral frame onto frame t (by the eye corners and nose)."""
    n = neutral_frame(driving)
    out = np.full(driving.shape, np.nan)
    if n is None:
        return out
    neutral = driving[n]
    q, c = _similarity(reference[_RIGID], neutral[_RIGID])
    change = reference @ q.T + c - neutral
    for t in np.flatnonzero(_seen(driving)):
        m, _ = _similarity(neutral[_RIGID], driving[t, _RIGID])
        out[t] = driving[t] + change @ m.T
    return out


def _targets_at(reference: Person, poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each head pose (n, 2+: yaw, pitch), the median identity features of the reference person's frames
    (``Person.posed``) within POSE_YAW and POSE_PITCH of it: (n, F), and whether at least 2 such frames exist (n,)."""
    rows = reference.posed
    theirs = reference.clip.head_pose[rows, :2]
    near = ((np.abs(theirs[None, :, 0] - poses[:, None, 0]) <= POSE_YAW)
            & (np.abs(theirs[None, :, 1] - poses[:, None, 1]) <= POSE_PITCH))
    features = np.where(near[..., None], reference.features[rows][None], np.nan)
    with warnings.catch_warnings():  # a pose with no frame near it, or a feature none of them shows: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(features, axis=1), near.sum(1) >= 2


def own_frames(reference: Person, driving: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """The reference person's own mouth-closed frame of the first third nearest in head pose to each driving frame
    (T, 68, 2) of pose ``pose`` (T, 3), among those within POSE_YAW and POSE_PITCH, similarity-aligned onto it by the
    eye corners and nose; NaN where A has no such frame. A's real face at the driver's pose, with no expression."""
    out = np.full(driving.shape, np.nan)
    rows = reference.early
    if not len(rows):
        return out
    theirs = reference.clip.head_pose[rows, :2]
    for t in np.flatnonzero(_seen(driving) & np.isfinite(pose[:, :2]).all(1)):
        gap = np.abs(theirs - pose[t, :2]) / (POSE_YAW, POSE_PITCH)
        inside = np.flatnonzero((gap <= 1).all(1))
        if len(inside):
            face = reference.clip.landmarks[rows[inside[np.argmin(gap[inside].sum(1))]]]
            m, b = _similarity(face[_RIGID], driving[t, _RIGID])
            out[t] = face @ m.T + b
    return out


@dataclass(frozen=True)
class PairScores:
    reference: str
    driver: str
    method: str
    d_output: float
    """Identity distance of the output to the reference person, frontal frames (NaN: none)."""
    d_driver: float
    """The same for the driver."""
    turned: dict[int, tuple[float, float]]
    """side -> (d_output, d_driver) over the frames turned that way, where both people have such frames."""
    expression: dict[str, float]
    """Correlation with the driver per expression feature."""
    amplitude: float
    jitter: float
    frames: int
    errors: tuple[float, ...] = ()
    """Per identity feature (FEATURES order), frontal frames: (the output's median - the reference person's) / the
    feature's spread. d_output is the root sum of their squares (over the finite ones)."""
    turned_errors: dict[int, tuple[float, ...]] = field(default_factory=dict)
    """side -> the same over the frames turned that way (the sides of ``turned``)."""
    people: tuple[str, str] = ("", "")
    """Who the reference and the driver are (``Clip.who``; '': the video's name): the draws that ``resampled``
    resamples."""
    posed: tuple[float, float] = (float("nan"), float("nan"))
    """(d_output, d_driver) at matched head pose, frontal frames (NaN: no head poses, or too few frames match)."""
    posed_turned: dict[int, tuple[float, float]] = field(default_factory=dict)
    """side -> the same over the frames turned that way."""

    @property
    def transfer(self) -> float:
        return 1.0 - self.d_output / self.d_driver if self.d_driver > 0 else float("nan")

    @property
    def transfer_posed(self) -> float:
        """Identity transfer at matched head pose, frontal frames."""
        out, drv = self.posed
        return 1.0 - out / drv if drv > 0 else float("nan")

    @property
    def fidelity(self) -> float:
        values = [v for v in self.expression.values() if math.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) < 1e-9 or np.std(b[ok]) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def score_pair(reference: Person, driver: Person, method: str, output: np.ndarray, frames: int) -> PairScores:
    """Scores one method's output (T, 68, 2) for the pair (reference <- driver), T = ``frames`` first
    frames of the driver's clip."""
    driving = driver.clip.landmarks[:frames]
    both = _seen(output) & _seen(driving)
    out = np.where(both[:, None, None], output, np.nan)
    drv = np.where(both[:, None, None], driving, np.nan)

    spread = np.array([SPREAD[f] for f in FEATURES])
    nan = (float("nan"),) * len(FEATURES)

    def d(rows: np.ndarray, target: np.ndarray) -> tuple[float, float, tuple[float, ...]]:
        if rows.sum() < MIN_FRAMES:
            return float("nan"), float("nan"), nan
        mine = _median(identity_features(out[rows]))
        errors = tuple(float(e) for e in (mine - target) / spread)
        return distance(mine, target), distance(_median(identity_features(drv[rows])), target), errors

    d_out, d_drv, errors = d(_frontal_closed(drv), reference.identity)
    turned, turned_errors = {}, {}
    for side, target in reference.turned.items():
        *pair, side_errors = d(_turned(drv, side), target)
        if np.isfinite(pair).all():
            turned[side], turned_errors[side] = tuple(pair), side_errors
    posed, posed_turned = (float("nan"), float("nan")), {}
    pose = driver.clip.head_pose
    if reference.features is not None and pose is not None:
        f_out, f_drv = identity_features(out), identity_features(drv)

        def at_pose(rows: np.ndarray) -> tuple[float, float]:
            """Each of ``rows`` against A's frames at its pose: the output's and the driver's medians against the
            median of those frames' medians."""
            frames = np.flatnonzero(rows & np.isfinite(pose[: len(rows), :2]).all(1))
            targets, enough = _targets_at(reference, pose[frames])
            frames, targets = frames[enough], targets[enough]
            if len(frames) < MIN_FRAMES:
                return float("nan"), float("nan")
            target = _median(targets)
            return distance(_median(f_out[frames]), target), distance(_median(f_drv[frames]), target)

        posed = at_pose(_frontal_closed(drv))
        for side in (-1, 1):
            pair = at_pose(_turned(drv, side))
            if np.isfinite(pair).all():
                posed_turned[side] = pair
    e_out, e_drv = expression_features(out), expression_features(drv)
    corr = {name: _corr(e_out[:, k], e_drv[:, k]) for k, name in enumerate(EXPRESSION_FEATURES)}
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = [np.nanstd(e_out[both, k]) / np.nanstd(e_drv[both, k]) if both.sum() >= 2 else np.nan
                  for k in range(len(EXPRESSION_FEATURES))]
    amplitude = float(np.nanmedian(ratios)) if np.isfinite(ratios).any() else float("nan")
    return PairScores(reference.name, driver.name, method, d_out, d_drv, turned, corr, amplitude,
                      jitter(out) / jitter(drv), int(both.sum()), errors, turned_errors, (reference.clip.who, driver.clip.who),
                      posed, posed_turned)


def self_transfer_error(output: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean distance between the output and the person's own landmarks (T, 68, 2), in outer-eye-corner
    distances, over the frames both have."""
    both = _seen(output) & _seen(landmarks)
    eyes = np.linalg.norm(landmarks[both, 45] - landmarks[both, 36], axis=-1)
    return float((np.linalg.norm(output[both] - landmarks[both], axis=-1).mean(1) / eyes).mean())


@dataclass(frozen=True)
class Summary:
    method: str
    transfer: float
    """Identity transfer pooled over the pairs, frontal frames."""
    transfer_turned: float
    """Pooled over the pairs and both sides' turned frames."""
    fidelity: float
    amplitude: float
    jitter: float
    worst_pair: float
    """The lowest per-pair identity transfer."""
    pairs: int
    turned_cases: int = 0
    """How many (pair, side) cases the head-turn figure pools: both people turned that way in their frames. A
    figure over a handful of cases is a small sample, and the report says how many."""
    feature_rms: tuple[float, ...] = ()
    """Per identity feature (FEATURES order): the root mean square over the pairs of PairScores.errors (where the
    frontal distance is), ..."""
    feature_bias: tuple[float, ...] = ()
    """... their mean (an error the method makes one way on most pairs), ..."""
    turned_feature_rms: tuple[float, ...] = ()
    """... and the root mean square over the head-turn cases."""
    interval: tuple[float, float] = (float("nan"), float("nan"))
    """A 90% interval of ``transfer`` over the people: the 5th and 95th percentiles of the pooled figure over
    BOOTSTRAP resamplings of the people (with replacement; each drawn pair weighs as often as it is drawn). People,
    not pairs, are the independent draws: with a handful of them the interval is wide, and a change smaller than
    it is not shown to be real."""
    turned_interval: tuple[float, float] = (float("nan"), float("nan"))
    """The same for ``transfer_turned``."""
    negative: int = 0
    """Pairs whose identity transfer (frontal) is below 0: the output further from the reference person than the driver."""
    at_pose: AtPose | None = None
    """The same figures at matched head pose (None: the clips' head poses were not measured)."""


@dataclass(frozen=True)
class AtPose:
    """A method's figures at matched head pose (``PairScores.posed``): pooled as ``Summary``'s."""

    transfer: float
    transfer_turned: float
    pairs: int
    """Pairs with a frontal figure: both people have enough frames at a common pose."""
    turned_cases: int
    negative: int
    interval: tuple[float, float]
    turned_interval: tuple[float, float]


BOOTSTRAP = 2000
"""Resamplings of the people behind Summary.interval (fixed seed: the same scores give the same interval)."""


def resampled(scores: list[PairScores], method: str, posed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The pooled frontal and head-turn figures of ``method`` (``posed``: at matched head pose) over BOOTSTRAP
    resamplings of the people (with
    replacement; a pair (A, B) weighs as often as A and B are drawn together; a person's several videos are drawn
    together, ``PairScores.people``; NaN where a resampling holds no pair).
    The same people give the same resamplings (fixed seed), so two methods' arrays can be subtracted: the paired
    difference, which is much surer than either figure alone."""
    mine = [s for s in scores if s.method == method]
    who = lambda s: (s.people[0] or s.reference, s.people[1] or s.driver)
    people = sorted({p for s in scores for p in who(s)})
    index = {p: k for k, p in enumerate(people)}
    n = len(people)
    out_f, drv_f, out_t, drv_t = (np.zeros((n, n)) for _ in range(4))
    for s in mine:  # one person's several videos add up in that person's cells
        a, b = (index[p] for p in who(s))
        frontal, sides = (s.posed, s.posed_turned) if posed else ((s.d_output, s.d_driver), s.turned)
        if np.isfinite(frontal).all():
            out_f[a, b] += frontal[0]
            drv_f[a, b] += frontal[1]
        out_t[a, b] += sum(o for o, _ in sides.values())
        drv_t[a, b] += sum(d for _, d in sides.values())
    rng = np.random.default_rng(0)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(BOOTSTRAP)]).astype(np.float64)
    weights = counts[:, :, None] * counts[:, None, :]  # the diagonal (A <- A) holds 0

    def pooled(out: np.ndarray, drv: np.ndarray) -> np.ndarray:
        o, d = (weights * out).sum((1, 2)), (weights * drv).sum((1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d > 0, 1.0 - o / d, np.nan)

    return pooled(out_f, drv_f), pooled(out_t, drv_t)


def interval(values: np.ndarray) -> tuple[float, float]:
    """The 5th and 95th percentiles of the finite values (NaN, NaN if none)."""
    values = values[np.isfinite(values)]
    return (float(np.percentile(values, 5)), float(np.percentile(values, 95))) if len(values) else (float("nan"),) * 2


def summarise(scores: list[PairScores], method: str) -> Summary:
    mine = [s for s in scores if s.method == method]
    frontal = [s for s in mine if math.isfinite(s.d_output) and math.isfinite(s.d_driver)]
    pooled = lambda out, drv: 1.0 - sum(out) / sum(drv) if sum(drv) > 0 else float("nan")
    transfer = pooled([s.d_output for s in frontal], [s.d_driver for s in frontal])
    sides = [v for s in mine for v in s.turned.values()]
    turned = pooled([o for o, _ in sides], [d for _, d in sides]) if sides else float("nan")
    mean = lambda values: float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    def per_feature(rows: list[tuple[float, ...]], f) -> tuple[float, ...]:
        if not rows:
            return (float("nan"),) * len(FEATURES)
        e = np.array(rows, np.float64)
        return tuple(f(e[np.isfinite(e[:, k]), k]) if np.isfinite(e[:, k]).any() else float("nan") for k in range(e.shape[1]))

    rms = lambda e: float(np.sqrt(np.mean(e ** 2)))
    fronts = [s.errors for s in frontal if s.errors]
    turns = [e for s in mine for e in s.turned_errors.values()]
    intervals = tuple(interval(r) for r in resampled(scores, method)) if mine else ((float("nan"),) * 2,) * 2
    at_pose = None
    posed = [s for s in mine if np.isfinite(s.posed).all()]
    posed_sides = [v for s in mine for v in s.posed_turned.values()]
    if posed or posed_sides:
        at_pose = AtPose(pooled([s.posed[0] for s in posed], [s.posed[1] for s in posed]) if posed else float("nan"),
                         pooled([o for o, _ in posed_sides], [d for _, d in posed_sides]) if posed_sides else float("nan"),
                         len(posed), len(posed_sides), sum(1 for s in posed if s.transfer_posed < 0),
                         *(interval(r) for r in resampled(scores, method, posed=True)))
    return Summary(method, transfer, turned, mean([s.fidelity for s in mine]), mean([s.amplitude for s in mine]),
                   mean([s.jitter for s in mine]), min((s.transfer for s in frontal), default=float("nan")), len(mine),
                   len(sides), per_feature(fronts, rms), per_feature(fronts, lambda e: float(e.mean())),
                   per_feature(turns, rms), *intervals, sum(1 for s in frontal if s.transfer < 0), at_pose)



def calibrate(clips: list[Clip]) -> dict[str, tuple[float, float, int]]:
    """Every candidate feature's (between-person spread, within-person spread, people): the standard
    deviation of the per-person medians over their frontal, mouth-closed frames (a person's clips taken
    together), and the root mean square of the per-person standard deviations (faces smaller than
    MIN_EYE_DISTANCE left out). How ``features.SPREAD`` was measured."""
    from .features import ALL_FEATURES

    frames: dict[str, list[np.ndarray]] = {}
    for clip in clips:
        seen = _seen(clip.landmarks)
        if not seen.any() or np.median(np.linalg.norm(clip.landmarks[seen, 45] - clip.landmarks[seen, 36], axis=-1)) < MIN_EYE_DISTANCE:
            continue
        rows = _frontal_closed(clip.landmarks)
        if rows.sum() < MIN_FRAMES:
            continue
        frames.setdefault(clip.who, []).append(identity_features(clip.landmarks[rows], ALL_FEATURES))
    if len(frames) < 2:
        raise ValueError(f"calibration needs at least 2 people with {MIN_FRAMES} frontal, mouth-closed frames")
    each = [np.concatenate(f) for f in frames.values()]
    with warnings.catch_warnings():  # a feature that too few people show (a jaw width below a short chin) is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        between = np.nanstd(np.array([_median(f) for f in each]), 0, ddof=1)
        inside = np.sqrt(np.nanmean(np.array([np.nanstd(f, 0) for f in each]) ** 2, 0))
    return {n: (float(b), float(w), len(each)) for n, b, w in zip(ALL_FEATURES, between, inside)}
