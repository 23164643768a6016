"""Runs the identity-transfer protocol (``transfer.py``) over a folder of one-person videos and writes
the report: ``report.md`` (the table, every anchor and mode), ``scores.json`` (every pair),
``identity_pairs.png`` (per-pair identity transfer) and ``expression_series.png`` (a few pairs' mouth
opening and eye openness over time)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..driving import fit_driving, fit_reference
from ..flt import Mode, Reference, flt_landmarks
from ..model import load_model
from ..progress import Progress
from .clips import Clip, detect_clip, find_clips, frame_at
from .features import FEATURES
from .metrics import expression_features
from .transfer import (
    ANCHORS,
    OWN_FRAMES,
    POSE_PITCH,
    POSE_YAW,
    PairScores,
    Person,
    Summary,
    interval,
    own_frames,
    paste,
    person,
    relative_2d,
    resampled,
    score_pair,
    self_transfer_error,
    summarise,
)

__all__ = ["ProtocolResult", "run_protocol", "write_report"]


@dataclass(frozen=True)
class ProtocolResult:
    people: list[str]
    skipped: dict[str, str]
    """clip name -> why it is not in the population."""
    scores: list[PairScores]
    summaries: list[Summary]
    self_transfer: dict[str, dict[str, float]]
    """method -> person -> mean distance to the person's own landmarks (eye distances), A <- A."""
    frames: int
    outputs: dict[tuple[str, str, str], np.ndarray]
    """(reference, driver, method) -> the output landmarks (T, 68, 2), for the plots."""
    pairs: list[tuple[str, str]]
    """The ordered pairs (A, B) scored: every two clips but those of one person."""
    one_person: dict[str, list[str]]
    """person -> their clips, for people named in several videos (``clips.Video``): never paired with each other."""


def run_protocol(clips: Sequence[Clip], modes: Sequence[Mode] = tuple(Mode), frames: int = 300, model_dir: str | None = None,
                 detector: str = "dlib", identity_lambda: float = 3.0, smoothing: float = 1.0,
                 progress: bool = True) -> ProtocolResult:
    """Every ordered pair (A <- B) of the clips that qualify as people, each anchor and mode scored."""
    people: list[Person] = []
    skipped: dict[str, str] = {}
    for clip in clips:
        p = person(clip)
        if isinstance(p, str):
            skipped[clip.name] = p
        else:
            people.append(p)
    who = {p.clip.who for p in people}
    if len(who) < 2:
        raise ValueError(f"the identity protocol needs at least 2 people; {len(who)} qualify"
                         + "".join(f"; {k}: {v}" for k, v in skipped.items()))
    pairs = [(a, b) for a in people for b in people if a is not b and a.clip.who != b.clip.who]
    groups: dict[str, list[str]] = {}
    for p in people:
        groups.setdefault(p.clip.who, []).append(p.name)
    model = load_model(model_dir)
    det = None
    if Mode.REDETECT in modes:
        from ..plugins import make_detector

        det = make_detector(detector)
    references = {}
    for p in people:
        lms = p.reference_landmarks[None]
        conf = p.clip.confidences[p.reference_index][None]
        fit = fit_reference(model, lms, p.clip.size, conf, identity_lambda)
        image = frame_at(p.clip.path, p.reference_index) if Mode.REDETECT in modes else None
        references[p.name] = Reference(lms, fit, () if image is None else (image,))
    tracks = {}
    for p in people:
        c = p.clip
        tracks[p.name] = fit_driving(model, c.landmarks[:frames], c.confidences[:frames], c.size, c.fps,
                                     identity_lambda=identity_lambda, smoothing=smoothing)
    scores: list[PairScores] = []
    outputs: dict[tuple[str, str, str], np.ndarray] = {}
    selfs: dict[str, dict[str, float]] = {}
    posed = all(p.clip.head_pose is not None for p in people)
    methods = [*ANCHORS, *([OWN_FRAMES] if posed else []), *(m.value for m in modes)]
    bar = Progress("scoring", len(pairs) + len(people), progress, unit="pairs")
    for a, b in [(p, p) for p in people] + pairs:
        driving = b.clip.landmarks[:frames]
        ref = a.reference_landmarks
        for method in methods:
            if a is b and method == OWN_FRAMES:  # A's own frames near A's own pose: each early frame finds itself
                continue
            if method == "driver":
                out = driving
            elif method == "paste":
                out = paste(ref, driving)
            elif method == "relative-2d":
                out = relative_2d(ref, driving)
            elif method == OWN_FRAMES:
                out = own_frames(a, driving, b.clip.head_pose[:frames])
            else:
                out = flt_landmarks(model, method, references[a.name], tracks[b.name], smoothing=smoothing, detector=det)
            if a is b:
                selfs.setdefault(method, {})[a.name] = self_transfer_error(out, driving)
                continue
            scores.append(score_pair(a, b, method, out, len(driving)))
            outputs[(a.name, b.name, method)] = out
        bar.step()
    bar.close()
    return ProtocolResult([p.name for p in people], skipped, scores, [summarise(scores, m) for m in methods], selfs, frames,
                          outputs, [(a.name, b.name) for a, b in pairs], {k: g for k, g in groups.items() if len(g) > 1})


def _f(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.2f}"


def _range(pair: tuple[float, float]) -> str:
    return "" if not all(math.isfinite(v) for v in pair) else f"[{pair[0]:.2f}, {pair[1]:.2f}]"


def _signed(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:+.2f}"


def write_report(result: ProtocolResult, out: Path) -> str:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_pairs = len(result.pairs)
    videos = len(result.people)
    persons = videos - sum(len(g) - 1 for g in result.one_person.values())
    who = f"{videos} people" if persons == videos else f"{videos} videos of {persons} people"
    intro = (f"{who} ({', '.join(result.people)}), {n_pairs} ordered pairs (A <- B), the first "
             f"{result.frames} frames of each driver. Identity transfer: 0 = the driver, 1 = the reference person's own "
             "frames (pooled over pairs; see faceflt.evaluation.transfer). In brackets, the 5th and 95th percentiles of "
             "the pooled figure over resamplings of the people: with few people, differences inside them are not shown "
             "to be real.")
    header = ("| method | identity transfer (pooled) [90% over people] | under head turns (cases) [90%] | expression fidelity "
              "| amplitude | jitter | worst pair | negative pairs | self-transfer error |")
    lines = ["# FLT identity-transfer protocol", "", intro, "", header, "|---|---|---|---|---|---|---|---|---|"]
    for s in result.summaries:
        selfs = list(result.self_transfer.get(s.method, {}).values())
        lines.append(f"| {s.method} | {_f(s.transfer)} {_range(s.interval)} | {_f(s.transfer_turned)} ({s.turned_cases}) "
                     f"{_range(s.turned_interval)} | {_f(s.fidelity)} | {_f(s.amplitude)} | "
                     f"{_f(s.jitter)} | {_f(s.worst_pair)} | {s.negative} | {_f(float(np.mean(selfs)) if selfs else math.nan)} |")
    modes = [m for m in (s.method for s in result.summaries) if m not in (*ANCHORS, OWN_FRAMES)]
    posed = [s for s in result.summaries if s.at_pose is not None]
    if posed:
        lines += ["", f"At matched head pose (each clip's head pose measured by MediaPipe's face mesh, not by the method's "
                  f"model): each driving frame against the reference person's own frames within {POSE_YAW:g} degrees of its "
                  f"yaw and {POSE_PITCH:g} of its pitch, so that a face is compared with the same face seen the same way. "
                  f"{OWN_FRAMES}: the reference person's own frame at each driving frame's pose (first third, mouth closed), "
                  "what the person's own face scores (not a ceiling: a person's frames differ among themselves too).", "",
                  "| method | identity transfer (pairs) [90%] | under head turns (cases) [90%] | negative pairs |",
                  "|---|---|---|---|"]
        for s in posed:
            a = s.at_pose
            lines.append(f"| {s.method} | {_f(a.transfer)} ({a.pairs}) {_range(a.interval)} | {_f(a.transfer_turned)} "
                         f"({a.turned_cases}) {_range(a.turned_interval)} | {a.negative} |")
    if modes:
        lines += ["", "Paired differences (each mode's figure less an anchor's, over the same resamplings of the people; "
                  "90% in brackets: an interval that holds 0 does not show a difference):", "",
                  "| mode - anchor | identity transfer | under head turns |", "|---|---|---|"]
        by = {s.method: s for s in result.summaries}
        kinds = [(False, "", lambda s: s)] + ([(True, ", at matched head pose", lambda s: s.at_pose)] if posed else [])
        for at_pose, label, figures in kinds:
            anchors = {anchor: resampled(result.scores, anchor, at_pose) for anchor in ("paste", "relative-2d")}
            for m in modes:
                if any(figures(by[x]) is None for x in (m, "paste", "relative-2d")):  # no pair has a figure there
                    continue
                mine = resampled(result.scores, m, at_pose)
                for anchor, theirs in anchors.items():
                    cells = [f"{_signed(getattr(figures(by[m]), k) - getattr(figures(by[anchor]), k))} {_range(interval(a - b))}"
                             for k, a, b in (("transfer", mine[0], theirs[0]), ("transfer_turned", mine[1], theirs[1]))]
                    lines.append(f"| {m} - {anchor}{label} | {cells[0]} | {cells[1]} |")
    lines += ["", "Per pair (identity transfer, frontal frames):", ""]
    methods = [s.method for s in result.summaries]
    lines.append("| A <- B | " + " | ".join(methods) + " |")
    lines.append("|---|" + "---|" * len(methods))
    by = {(s.reference, s.driver, s.method): s for s in result.scores}
    for a, b in result.pairs:
        lines.append(f"| {a} <- {b} | " + " | ".join(_f(by[(a, b, m)].transfer) for m in methods) + " |")
    lines += ["", "Where the distance is, per identity feature: the root mean square over the pairs of (output - reference "
              "person) / the feature's spread, frontal frames, with the mean of those signed errors in brackets (an error "
              "made one way on most pairs); then the root mean square over the head-turn cases.", ""]
    lines.append("| method | " + " | ".join(FEATURES) + " |")
    lines.append("|---|" + "---|" * len(FEATURES))
    for s in result.summaries:
        lines.append(f"| {s.method} | " + " | ".join(f"{_f(r)} ({_signed(b)})" for r, b in zip(s.feature_rms, s.feature_bias)) + " |")
    for s in result.summaries:
        lines.append(f"| {s.method}, turned | " + " | ".join(_f(r) for r in s.turned_feature_rms) + " |")
    if result.one_person:
        lines += ["", "One person in several videos (never paired with each other): "
                  + "; ".join(f"{k}: {', '.join(g)}" for k, g in result.one_person.items())]
    if result.skipped:
        lines += ["", "Not in the population:", *(f"- {k}: {v}" for k, v in result.skipped.items())]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    payload = {
        "people": result.people, "skipped": result.skipped, "frames": result.frames, "one_person": result.one_person,
        "summaries": [asdict(s) for s in result.summaries], "self_transfer": result.self_transfer,
        "features": list(FEATURES),
        "pairs": [{**asdict(s), "turned": {str(k): v for k, v in s.turned.items()},
                   "turned_errors": {str(k): v for k, v in s.turned_errors.items()},
                   "posed_turned": {str(k): v for k, v in s.posed_turned.items()}, "transfer": s.transfer,
                   "fidelity": s.fidelity} for s in result.scores],
    }
    (out / "scores.json").write_text(json.dumps(_finite(payload), indent=1, allow_nan=False))
    _plots(result, out)
    return text


def _finite(value):
    """``value`` with every NaN or infinite float (nested in dicts, lists and tuples) as None: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _plots(result: ProtocolResult, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    methods = [s.method for s in result.summaries]
    pairs = result.pairs
    by = {(s.reference, s.driver, s.method): s for s in result.scores}
    fig, ax = plt.subplots(figsize=(max(8, len(pairs) * 1.1), 5))
    width = 0.8 / len(methods)
    for k, m in enumerate(methods):
        ax.bar(np.arange(len(pairs)) + k * width, [by[(a, b, m)].transfer for a, b in pairs], width, label=m)
    ax.set_xticks(np.arange(len(pairs)) + 0.4 - width / 2, [f"{a} <- {b}" for a, b in pairs], rotation=60, ha="right",
                  fontsize=7)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("identity transfer")
    ax.legend(fontsize=7, ncol=len(methods))
    fig.tight_layout()
    fig.savefig(out / "identity_pairs.png", dpi=90)
    plt.close(fig)
    shown = pairs[: min(3, len(pairs))]
    fig, axes = plt.subplots(len(shown), 2, figsize=(12, 2.6 * len(shown)), squeeze=False)
    for row, (a, b) in zip(axes, shown):
        for col, (k, label) in enumerate(((0, "mouth opening"), (1, "eye openness"))):
            for m in methods:
                if m in ("paste", OWN_FRAMES) or (a, b, m) not in result.outputs:
                    continue
                row[col].plot(expression_features(result.outputs[(a, b, m)])[:, k], lw=1, label=m)
            row[col].set_title(f"{a} <- {b}: {label}", fontsize=8)
    if axes[0][0].get_legend_handles_labels()[0]:  # no series drawn (no output kept): no legend
        axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "expression_series.png", dpi=90)
    plt.close(fig)


def clips_from(people: Path, detector: str, cache: Path | None, progress: bool = True) -> list[Clip]:
    videos = find_clips(people)
    bar = Progress("detecting people", len(videos), progress, unit="videos")
    clips = []
    for v in videos:
        clips.append(detect_clip(v.path, detector, cache, person=v.person))
        bar.step()
    bar.close()
    return clips
