"""The identity protocol checked on its extremes: people drawn from the face model, where the exact answer is known.

    python tools/synthetic_protocol.py ../shared/models/sfm [--people 10] [--pitch-spread 6] [--noise 0.7] [--seed 0]
                                                            [--clean-picture] [--features]

Each person is an identity drawn from the model (coefficients ~N(0, 1)) filmed for 300 frames at 30 fps: the head
turns (a sine of 8 to 30 degrees, each person its own), nods by 3 degrees, and two of the model's expressions go on
and off; the camera looks from a pitch of its own, drawn within +-``--pitch-spread`` degrees (so two cameras are up
to twice that apart). The landmarks are the model's (jaw points on the posed face's silhouette) plus ``--noise``
pixels of Gaussian noise, as a detector's. The protocol of `faceflt eval identity` then runs on these clips as on
videos (``evaluation.transfer``: the same reference frame, the same frames of each person, the same features and
anchors), with three more rows:

- *exact*: the exact FLT answer, the reference person's identity with the driver's expression and pose, and the
  same noise. A sound identity figure gives it about 1, frontal and under head turns.
- *relative, driver's pitch* and *relative, picture's pitch*: `relative` with the reference picture lifted at the
  driver's neutral pitch (``flt.PITCH_TRUST`` = 0, the shipped mode until session 11) and at its own fitted pitch
  (``PITCH_TRUST`` = 1), where the shipped mode lifts it halfway between (``flt.identity_change``).

and, for every row, the figures at matched head pose (each clip's true head pose standing in for the measured
one), and the mean distance of its landmarks to the exact answer's (eye-aligned, in eye distances): what
the protocol's figure stands in for. ``--clean-picture`` gives the three `relative` rows the reference frame without its
noise (paste and relative-2d keep it): how much of what `relative` misses is one picture's detector noise, which no
later frame averages out. ``--features`` adds each row's error per identity feature under head turns (root mean
square over the cases, in spreads).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np

from faceflt import flt
from faceflt.driving import fit_driving, fit_reference
from faceflt.evaluation.clips import Clip
from faceflt.evaluation.features import FEATURES, align_eyes
from faceflt.evaluation.synthetic import on_and_off, truth, truth_landmarks
from faceflt.evaluation.transfer import paste, person, relative_2d, score_pair, summarise
from faceflt.flt import Reference, driver_neutral, relative
from faceflt.model import load_model

FRAMES, FPS, SIZE = 300, 30.0, (512, 512)
METHODS = ("driver", "paste", "relative-2d", "relative", "relative, driver's pitch", "relative, picture's pitch", "exact")


class Row(NamedTuple):
    frontal: float
    turned: float
    turned_cases: int
    fidelity: float
    distance: float
    """Mean distance to the exact answer, eye-aligned landmarks, eye distances."""
    turned_feature_rms: tuple[float, ...]
    """Per identity feature (features.FEATURES): the error under head turns, root mean square over the cases."""
    at_pose: tuple[float, float]
    """(frontal, under head turns) at matched head pose, each clip's head pose being its true one."""


def _person(rng: np.random.Generator, model, pitch_spread: float):
    """(identity, expressions (T, e), yaw/pitch/roll (T, 3)) of one drawn person."""
    t = np.arange(FRAMES)
    shape = rng.normal(0, 1.0, model.num_shape_coefficients)
    yaw = rng.uniform(8, 30) * np.sin(t / rng.uniform(20, 45) + rng.uniform(0, 6))
    pitch = pitch_spread * rng.uniform(-1, 1) + 3 * np.sin(t / 13)
    expression = on_and_off(rng, model, FRAMES, pace=(4, 9), off=0.3)  # off a little more often: closed-mouth frames
    return shape, expression, np.c_[yaw, pitch, 3 * np.sin(t / 17)]


def _relative_trusting(model, reference: Reference, track, neutral, trust: float):
    """``relative`` with ``flt.PITCH_TRUST`` = ``trust``."""
    shipped = flt.PITCH_TRUST
    flt.PITCH_TRUST = trust
    try:
        return relative(model, reference, track, neutral=neutral)
    finally:
        flt.PITCH_TRUST = shipped


def run(model, people: int = 10, pitch_spread: float = 6.0, noise: float = 0.7, seed: int = 0,
        clean_picture: bool = False) -> dict[str, Row]:
    rng = np.random.default_rng(seed)
    drawn = [_person(rng, model, pitch_spread) for _ in range(people)]
    faces = lambda shape, expression, ypr: truth_landmarks(model, truth(model, np.tile(shape, (FRAMES, 1)), expression, ypr))
    noisy = lambda lms: (lms + rng.normal(0, noise, lms.shape)).astype(np.float32)
    clean = [faces(*d) for d in drawn]
    clips = [Clip(f"p{k}", Path(f"p{k}"), noisy(c), np.ones((FRAMES, 68), np.float32), SIZE, FPS, head_pose=d[2])
             for k, (c, d) in enumerate(zip(clean, drawn))]
    ready = {k: p for k, p in enumerate(person(c) for c in clips) if not isinstance(p, str)}
    if len(ready) < 2:
        raise ValueError(f"only {len(ready)} of {people} drawn people qualify; draw more")
    references = {}
    for k, p in ready.items():
        picture = (clean[k][p.reference_index] if clean_picture else p.reference_landmarks)[None].astype(np.float32)
        references[k] = Reference(picture, fit_reference(model, picture, SIZE, None, 3.0))
    tracks = {k: fit_driving(model, p.clip.landmarks, p.clip.confidences, SIZE, FPS, identity_lambda=3.0) for k, p in ready.items()}
    neutrals = {k: driver_neutral(model, track) for k, track in tracks.items()}
    scores, distances = [], {m: [] for m in METHODS}
    for a, ref in ready.items():
        for b, drv in ready.items():
            if a == b:
                continue
            driving = drv.clip.landmarks
            neutral = neutrals[b]
            exact = noisy(faces(drawn[a][0], drawn[b][1], drawn[b][2]))
            # the modes called directly, as `flt_landmarks` would (every frame of these clips has its face)
            outputs = {"driver": driving, "paste": paste(ref.reference_landmarks, driving),
                       "relative-2d": relative_2d(ref.reference_landmarks, driving),
                       "relative": relative(model, references[a], tracks[b], neutral=neutral),
                       "relative, driver's pitch": _relative_trusting(model, references[a], tracks[b], neutral, 0.0),
                       "relative, picture's pitch": _relative_trusting(model, references[a], tracks[b], neutral, 1.0),
                       "exact": exact}
            for method, out in outputs.items():
                scores.append(score_pair(ref, drv, method, out, FRAMES))
                distances[method].append(np.nanmean(np.linalg.norm(align_eyes(out) - align_eyes(exact), axis=-1)))
    rows = {}
    for method in METHODS:
        s = summarise(scores, method)
        rows[method] = Row(s.transfer, s.transfer_turned, s.turned_cases, s.fidelity, float(np.mean(distances[method])),
                           s.turned_feature_rms, (s.at_pose.transfer, s.at_pose.transfer_turned) if s.at_pose else (float("nan"),) * 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--pitch-spread", type=float, default=6.0, help="each camera's pitch within +- this many degrees")
    parser.add_argument("--noise", type=float, default=0.7, help="landmark noise, pixels (faces about 300 pixels wide)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clean-picture", action="store_true", help="the reference picture without noise, for `relative`")
    parser.add_argument("--features", action="store_true", help="each row's error per identity feature under head turns")
    args = parser.parse_args()
    rows = run(load_model(args.model_dir), args.people, args.pitch_spread, args.noise, args.seed, args.clean_picture)
    print("| method | identity transfer (pooled) | under head turns (cases) | at matched head pose: frontal / under head turns "
          "| expression fidelity | distance to the exact answer |")
    print("|---|---|---|---|---|---|")
    for method, r in rows.items():
        print(f"| {method} | {r.frontal:.2f} | {r.turned:.2f} ({r.turned_cases}) | {r.at_pose[0]:.2f} / {r.at_pose[1]:.2f} | "
              f"{r.fidelity:.2f} | {r.distance:.4f} |")
    if args.features:
        print("\nunder head turns, per identity feature (root mean square over the cases, spreads)\n")
        print("| method | " + " | ".join(FEATURES) + " |")
        print("|---|" + "---|" * len(FEATURES))
        for method, r in rows.items():
            print(f"| {method} | " + " | ".join(f"{v:.2f}" for v in r.turned_feature_rms) + " |")


if __name__ == "__main__":
    main()
