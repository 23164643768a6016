"""Where the head-turn error of ``relative`` comes from, on faces drawn from the model (the exact answer known).

    python tools/synthetic_turns.py ../shared/models/sfm [--truth csr] [--sliding]
    python tools/synthetic_turns.py ../shared/models/sfm --asymmetry

A driver and a reference of different identities are drawn from the Surrey model; the driver turns its head to
40 degrees over 90 frames with two expressions switching on and off; the driver's landmarks put the jaw on the
posed face's silhouette, as a detector does, and the exact answer is the reference's face with the driver's
expression and camera, its jaw on its own silhouette nearest the driver's. The table is the mean per-frame distance
of the identity protocol's features (``faceflt.evaluation.features``, in between-person spreads) to the answer's,
by the driver's true yaw.

``--truth``: put true parameters in place of fitted ones: ``c`` the driver's cameras, ``s`` the driver's shape,
``r`` the reference's shape and camera (``csr``: everything exact; what is left is the transformation's algebra).

``--sliding``: add to the jaw points each face's own sliding along its silhouette (its silhouette vertices in the
frame against those of its neutral pose, the reference's scaled to the driver's eye distance), the correction
that a turn asks for when the two faces' jaws differ in depth. Measured with it on real people (docs/identity.md),
it was not kept.

``--asymmetry``: instead, how the protocol's turn measure (the nose-to-jaw asymmetry) and the camera fit's yaw read
a head turned at each of five pitches: the true yaw per unit of asymmetry, and the fitted yaw against the true.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from faceflt.driving import fit_driving, fit_reference
from faceflt.evaluation.features import FEATURES, SPREAD, identity_features, mouth_gap, turn
from faceflt.evaluation.synthetic import draw_pair, truth, truth_landmarks
from faceflt.fitting import Cameras, fuse
from faceflt.flt import Mode, Reference, flt_landmarks
from faceflt.model import load_model

BINS = ((0, 10), (10, 20), (20, 30), (30, 41))


def _most_common(ids: np.ndarray) -> np.ndarray:
    """(N, 68) vertex ids -> (68,) each column's most frequent id."""
    return np.array([np.bincount(column).argmax() for column in ids.T], np.int32)


def sliding(model, driver_shape, reference_shape, cameras: Cameras, guides: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """(T, 17, 2) pixels: the reference's silhouette sliding less the driver's, per frame (see the module docstring);
    ``neutral`` marks the frames whose pose is the neutral one."""
    driver, reference = fuse(model, driver_shape, cameras, guides=guides), fuse(model, reference_shape, cameras, guides=guides)
    at_rest = lambda shape, f: fuse(model, shape, cameras, vertex_ids=np.tile(_most_common(f.vertex_ids[neutral]), (len(cameras), 1)))
    driver_rest, reference_rest = at_rest(driver_shape, driver), at_rest(reference_shape, reference)
    eyes = lambda p: np.linalg.norm(p[:, 45] - p[:, 36], axis=-1)
    scale = np.median(eyes(driver_rest.landmarks) / eyes(reference_rest.landmarks))
    return (scale * (reference.landmarks - reference_rest.landmarks) - (driver.landmarks - driver_rest.landmarks))[:, :17]


def run(model, pairs: int, frames: int, seed: int, exact: str, with_sliding: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    spread = np.array([SPREAD[f] for f in FEATURES])
    errors: dict[str, list] = {"driver": [], "relative": []}
    yaws = []
    for _ in range(pairs):
        pair = draw_pair(rng, model, frames, max_yaw=40.0, yaw_period=12.0)
        driving_truth, reference_truth = pair.driving(model), pair.picture(model)
        driving = truth_landmarks(model, driving_truth)
        answer = fuse(model, pair.reference_shape, pair.answer(model), guides=driving).landmarks
        picture = truth_landmarks(model, reference_truth)
        reference = Reference(picture, fit_reference(model, picture, (512, 512), None, 3.0))
        track = fit_driving(model, driving, np.ones((frames, 68), np.float32), (512, 512), 30.0, identity_lambda=3.0, smoothing=0.0)
        if "c" in exact:
            track = replace(track, cameras=Cameras(**{k: v for k, v in driving_truth.__dict__.items() if k != "shape_coeffs"}))
        if "s" in exact:
            track = replace(track, driver=replace(track.driver, shape_coeffs=pair.driver_shape[None].astype(np.float32)))
        if "r" in exact:
            reference = Reference(picture, replace(reference.fit, shape_coeffs=pair.reference_shape[None].astype(np.float32),
                                                   **{k: getattr(reference_truth, k) for k in ("expression_coeffs", "rotation", "scale", "translation", "yaw_pitch_roll")}))
        out = flt_landmarks(model, Mode.RELATIVE, reference, track, smoothing=0.0)
        if with_sliding:
            cams = track.cameras
            frontal = np.abs(cams.yaw_pitch_roll[:, 0]) <= 15  # the neutral face's frames, as flt.driver_neutral takes them
            closed = frontal & (mouth_gap(driving) < 0.04)
            neutral = closed if closed.sum() >= 5 else frontal
            out[:, :17] += sliding(model, track.driver.shape_coeffs[0], reference.fit.shape_coeffs[0], cams, driving, neutral)
        exact_features = identity_features(answer)
        errors["driver"].append((identity_features(driving) - exact_features) / spread)
        errors["relative"].append((identity_features(out) - exact_features) / spread)
        yaws.append(np.abs(pair.ypr[:, 0]))
    yaw = np.concatenate(yaws)
    table = {}
    for method, e in errors.items():
        distance = np.sqrt(np.nansum(np.concatenate(e) ** 2, 1))
        table[method] = np.array([distance[(yaw >= lo) & (yaw < hi)].mean() for lo, hi in BINS])
    return table


def asymmetry_by_pitch(model, faces: int = 6, seed: int = 0) -> dict[int, tuple[float, float]]:
    """pitch (degrees) -> (true yaw per unit of the protocol's asymmetry, fitted yaw / true yaw), each the mean over
    ``faces`` identities of the median over frames turned more than 10 degrees (yaw swept from -35 to 35)."""
    rng = np.random.default_rng(seed)
    out = {}
    for pitch in (-20, -10, 0, 10, 20):
        per_unit, ratio = [], []
        for _ in range(faces):
            shape = rng.normal(0, 1.0, model.num_shape_coefficients)
            yaw = np.linspace(-35, 35, 60)
            exact = truth(model, np.tile(shape, (60, 1)), np.zeros((60, model.num_expression_coefficients)),
                          np.c_[yaw, np.full(60, pitch), np.zeros(60)])
            landmarks = truth_landmarks(model, exact)
            track = fit_driving(model, landmarks, np.ones((60, 68), np.float32), (512, 512), 30.0, identity_lambda=3.0, smoothing=0.0)
            turned = np.abs(yaw) > 10
            per_unit.append(np.median(yaw[turned] / turn(landmarks)[turned]))
            ratio.append(np.median(track.cameras.yaw_pitch_roll[turned, 0] / yaw[turned]))
        out[pitch] = (float(np.mean(per_unit)), float(np.mean(ratio)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--truth", default="", help="true parameters in place of fitted ones: any of c, s, r")
    parser.add_argument("--sliding", action="store_true", help="add each face's silhouette sliding to the jaw")
    parser.add_argument("--asymmetry", action="store_true", help="the turn measure and the fitted yaw at five pitches")
    args = parser.parse_args()
    if args.asymmetry:
        print("pitch  true yaw per unit asymmetry  fitted / true yaw")
        for pitch, (per_unit, ratio) in asymmetry_by_pitch(load_model(args.model_dir), seed=args.seed).items():
            print(f"{pitch:+5d}  {per_unit:27.1f}  {ratio:17.3f}")
        return
    table = run(load_model(args.model_dir), args.pairs, args.frames, args.seed, args.truth, args.sliding)
    print("mean feature distance to the exact answer (spreads), by the driver's |yaw| in degrees")
    print(f"{'':10s}" + "".join(f"{f'{lo}-{hi}':>8s}" for lo, hi in BINS))
    for method, row in table.items():
        print(f"{method:10s}" + "".join(f"{v:8.2f}" for v in row))


if __name__ == "__main__":
    main()
