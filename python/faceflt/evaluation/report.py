"""The landmark-level evaluation of the three FLT modes on real videos and pictures (``faceflt eval landmarks``).

Videos and reference pictures are paired as the paper pairs them: a shuffle with a fixed seed assigns
a reference to each video. For each pair the pipeline's detection and fits run once; each mode's
landmarks are scored (metrics.py) beside the no-FLT baseline (the driver's own landmarks). The report
is a Markdown table, a CSV and PNG plots.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import FacefltError
from ..pipeline import MODES, Pipeline, TransformOptions
from .metrics import EXPRESSION_FEATURES, LandmarkScores, score_landmarks


def pair_up(videos: Sequence[Path], images: Sequence[Path], seed: int = 0) -> list[tuple[Path, Path]]:
    """A reference for each video, by a shuffle of the pictures with a fixed seed."""
    images = sorted(images)
    order = np.random.default_rng(seed).permutation(len(images))
    return [(video, images[order[i % len(images)]]) for i, video in enumerate(sorted(videos))]


@dataclass(frozen=True)
class PairResult:
    video: str
    reference: str
    frames: int
    scores: dict[str, LandmarkScores]  # mode -> scores; "none" is the driver itself
    error: str = ""


def evaluate_pair(video: Path, reference: Path, options: TransformOptions, modes: Sequence[str] = MODES) -> PairResult:
    pipeline = Pipeline(replace(options, progress=False))
    try:
        prepared = pipeline.prepare([reference], video)
    except FacefltError as e:
        return PairResult(str(video), str(reference), 0, {}, error=str(e))
    driving = prepared.detections["landmarks"]
    ref = prepared.ref_found.landmarks
    image = prepared.ref_images[0]
    score = lambda lms: score_landmarks(prepared.model, lms, driving, ref, prepared.size, (image.shape[1], image.shape[0]))
    try:
        scores = {"none": score(driving)}
    except ValueError as e:  # fewer than 3 frames with a face
        return PairResult(str(video), str(reference), len(driving), {}, error=str(e))
    for mode in modes:
        try:
            scores[mode] = score(pipeline.landmarks(prepared, mode)[0])
        except ValueError:  # this mode made fewer than 3 faces: left out of the means
            continue
    return PairResult(str(video), str(reference), len(driving), scores)


def write_report(results: Sequence[PairResult], out: Path) -> str:
    """report.md, scores.csv and scores.png in ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    modes = [m for m in ("none", *MODES) if any(m in r.scores for r in results)]
    colours = {"none": "0.6", "residual": "tab:red", "delta": "tab:blue", "project": "tab:orange", "redetect": "tab:green"}
    rows = []
    for r in results:
        for mode, s in r.scores.items():
            rows.append({"video": Path(r.video).name, "reference": Path(r.reference).name, "frames": r.frames, "mode": mode,
                         "identity_transfer": s.identity_transfer, "expression_fidelity": s.expression_fidelity,
                         "jitter_ratio": s.jitter_ratio,
                         **{f"corr_{k}": v for k, v in s.expression_correlation.items()}})
    with open(out / "scores.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["video"])
        writer.writeheader()
        writer.writerows(rows)

    def mean(mode: str, key: str) -> float:
        values = [row[key] for row in rows if row["mode"] == mode and math.isfinite(row[key])]
        return float(np.mean(values)) if values else float("nan")

    lines = ["| mode | identity transfer | expression fidelity | " + " | ".join(f"corr {k}" for k in EXPRESSION_FEATURES) +
             " | jitter ratio |", "|---|---|---|" + "---|" * len(EXPRESSION_FEATURES) + "---|"]
    for mode in modes:
        lines.append(f"| {mode} | {mean(mode, 'identity_transfer'):.2f} | {mean(mode, 'expression_fidelity'):.2f} | " +
                     " | ".join(f"{mean(mode, f'corr_{k}'):.2f}" for k in EXPRESSION_FEATURES) + f" | {mean(mode, 'jitter_ratio'):.2f} |")
    pairs = [f"- {Path(r.video).name} <- {Path(r.reference).name}: " + (f"{r.frames} frames" if not r.error else f"skipped ({r.error})")
             for r in results]
    text = "\n".join(["# FLT landmark evaluation", "", "Means over the video/reference pairs (see scores.csv per pair).", "",
                      *lines, "", "Pairs:", *pairs, ""])
    (out / "report.md").write_text(text)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
        for ax, key, title in zip(axes, ("identity_transfer", "expression_fidelity", "jitter_ratio"),
                                  ("identity transfer (1 = reference)", "expression fidelity (corr.)", "jitter / driver")):
            ax.bar(modes, [mean(m, key) for m in modes], color=[colours[m] for m in modes])
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(out / "scores.png", dpi=100)
        plt.close(fig)
    except ImportError:
        pass
    return text
