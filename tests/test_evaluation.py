"""The identity-transfer protocol: its features and metrics on faces whose answers are known, its extremes,
the relative mode's properties (neutral frame, self-transfer, a held expression), and the report on real clips."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import faceflt
from faceflt.cli import main
from faceflt.errors import InputError
from faceflt.evaluation import expression_features, identity_features, jitter
from faceflt.evaluation.clips import Clip, Video, detect_clip, find_clips
from faceflt.evaluation.features import FEATURES
from faceflt.evaluation.transfer import (
    PairScores,
    _similarity,
    interval,
    paste,
    person,
    relative_2d,
    resampled,
    score_pair,
    self_transfer_error,
    summarise,
)

import synthetic as syn
from conftest import SHARED, require

VIDEOS = SHARED / "data" / "videos"
SIZE = (512, 512)
FACE_MESH = importlib.util.find_spec("mediapipe") is not None
"""MediaPipe, whose face mesh measures the head poses, is in the default install on Python <= 3.12 only."""


def synthetic_clip(model, name: str, shape: np.ndarray, frames: int, rng, held: int | None = None, noise: float = 0.3) -> Clip:
    """A one-person 'video' drawn from the model: the head turns to both sides and back, the mouth opens
    now and then (surprise) and the face smiles at times; with ``held``, expression ``held`` is on in 80%
    of the frames (a driver holding an expression through the clip)."""
    t = np.arange(frames)
    expression = np.zeros((frames, model.num_expression_coefficients))
    expression[:, 5] = 0.6 * (np.sin(t / 5.0) > 0.6)
    expression[:, 3] = 0.4 * (np.cos(t / 7.0) < -0.7)
    if held is not None:
        expression[:, held] = np.where(np.sin(t / 6.0) > -0.8, 0.7, 0.0)
    ypr = np.c_[22 * np.sin(t / 13.0), 3 * np.sin(t / 9.0), 3 * np.sin(t / 11.0)]
    truth = syn.truth(model, np.tile(shape, (frames, 1)), expression, ypr)
    lms = syn.landmarks(model, truth) + rng.normal(0, noise, (frames, 68, 2))
    return Clip(name, Path(f"{name}.mp4"), lms.astype(np.float32), np.ones((frames, 68), np.float32), SIZE, 30.0)


@pytest.fixture(scope="module")
def people(model):
    rng = np.random.default_rng(3)
    shapes = rng.normal(0, 1.2, (2, model.num_shape_coefficients))
    a, b = (person(synthetic_clip(model, n, s, 150, rng)) for n, s in zip("ab", shapes))
    assert not isinstance(a, str) and not isinstance(b, str), (a, b)
    return a, b


def relative_output(model, reference_landmarks: np.ndarray, driving: Clip) -> np.ndarray:
    ref = faceflt.Reference(reference_landmarks[None], faceflt.fit_reference(model, reference_landmarks[None], SIZE, None, 3.0))
    track = faceflt.fit_driving(model, driving.landmarks, driving.confidences, driving.size, driving.fps)
    return faceflt.flt_landmarks(model, "relative", ref, track)


def test_identity_features_ignore_where_the_face_is_its_size_and_roll(people):
    a, _ = people
    lms = a.clip.landmarks[:20]
    c, s = np.cos(0.3), np.sin(0.3)
    moved = 1.7 * lms @ np.array([[c, -s], [s, c]]).T + 40
    np.testing.assert_allclose(identity_features(moved), identity_features(lms), atol=1e-6)
    np.testing.assert_allclose(expression_features(moved), expression_features(lms), atol=1e-5)
    assert jitter(moved) == pytest.approx(jitter(lms), rel=1e-5)


def test_metric_extremes(people):
    """The driver scores 0; paste (the reference picture similarity-aligned, no expression) scores a high
    identity transfer with no expression; a halfway face scores about half; relative-2d keeps the motion."""
    a, b = people
    driving = b.clip.landmarks
    driver = score_pair(a, b, "driver", driving, len(driving))
    assert driver.transfer == pytest.approx(0.0) and driver.fidelity == pytest.approx(1.0) and driver.jitter == pytest.approx(1.0)
    pasted = score_pair(a, b, "paste", paste(a.reference_landmarks, driving), len(driving))
    assert pasted.transfer > 0.8
    assert abs(pasted.expression["mouth_opening"]) < 0.3 and pasted.amplitude < 0.3
    # the answer's own frames, driven halfway: identity transfer about a half
    ideal = paste(a.reference_landmarks, driving)
    half = score_pair(a, b, "half", (driving + ideal) / 2, len(driving))
    assert 0.3 < half.transfer < 0.7
    rel = score_pair(a, b, "relative-2d", relative_2d(a.reference_landmarks, driving), len(driving))
    assert rel.transfer > 0.5 and rel.fidelity > 0.9
    # pooled over pairs: a pair whose driver already looks like the reference weighs little
    pooled = summarise([driver, pasted], "paste")
    assert pooled.transfer == pytest.approx(pasted.transfer) and pooled.pairs == 1
    # where the distance is: each feature's signed, spread-weighted error; the distance is their root sum of squares
    for s in (driver, pasted, half, rel):
        assert len(s.errors) == len(FEATURES) and np.sqrt(np.nansum(np.square(s.errors))) == pytest.approx(s.d_output)
        for side, (d_out, _) in s.turned.items():
            assert np.sqrt(np.nansum(np.square(s.turned_errors[side]))) == pytest.approx(d_out)
    np.testing.assert_allclose(pooled.feature_rms, np.abs(pasted.errors))
    # the interval over resamplings of the people: with one pair, every resampling that holds both people gives
    # that pair's figure
    assert pooled.interval == pytest.approx((pasted.transfer, pasted.transfer))
    np.testing.assert_allclose(pooled.feature_bias, pasted.errors)
    # the driver's errors are the reference person's differences from it: paste removes most of them
    assert np.nansum(np.square(pasted.errors)) < 0.1 * np.nansum(np.square(driver.errors))


def frontal_pair(model, seed: int, expression: np.ndarray, detail: float = 0.0):
    """A frontal, neutral reference face (with up to ``detail`` px a point of detail the model cannot express)
    and a frontal driving clip of another identity with ``expression`` (frames, coefficients):
    (reference (68, 2), driving clip, the reference's shape coefficients)."""
    rng = np.random.default_rng(seed)
    ref_shape, shape = rng.normal(0, 1.0, (2, model.num_shape_coefficients))
    reference = syn.landmarks(model, syn.truth(model, ref_shape[None], np.zeros((1, model.num_expression_coefficients)), [[0.0, 0.0, 0.0]]))[0]
    if detail:
        reference = reference + rng.uniform(-detail, detail, reference.shape)
    frames = len(expression)
    driving = syn.landmarks(model, syn.truth(model, np.tile(shape, (frames, 1)), expression, np.zeros((frames, 3))))
    return reference.astype(np.float32), Clip("d", Path("d.mp4"), driving, np.ones((frames, 68), np.float32), SIZE, 30.0), ref_shape


def aligned_error(target: np.ndarray, out: np.ndarray, by=slice(None), points=slice(None)) -> float:
    """The mean distance over ``points`` between ``out`` (68, 2) and ``target`` similarity-aligned onto it by the
    points ``by``, in ``out``'s eye distances."""
    m, b = _similarity(target[by], out[by])
    return float(np.linalg.norm((target @ m.T + b)[points] - out[points], axis=-1).mean() / np.linalg.norm(out[45] - out[36]))


@pytest.mark.parametrize("open_from", [25, 14])
def test_relative_neutral_frame_gives_back_the_reference(model, open_from):
    """A frontal, neutral reference face whose landmarks hold detail the model cannot express (a fixed random
    offset of up to 4 px per point), driven by another identity that rests on a frontal neutral face: on the
    resting frames the output is the reference's landmarks, similarity-aligned, within 2% of the eye
    distance (the detail kept); on the expressive frames it moves as the driver does. So too when the
    driver's mouth is open in most of its frames (from frame 14 of 40), so that a median over all its
    frontal frames would be an open mouth. Measured 1.1% and 1.7%: most of it is the fit misreading the two faces'
    pitch difference (both are filmed level; read 5.5 and 8.1 degrees apart, of which the mode believes half,
    ``flt.PITCH_TRUST``); with the picture at the driver's pitch it was 0.2% and 0.6%."""
    expression = np.zeros((40, model.num_expression_coefficients))
    expression[open_from:, 5] = 0.6  # the mouth opens
    reference, clip, _ = frontal_pair(model, 7, expression, detail=4.0)
    out = relative_output(model, reference, clip)
    for t in (2, 5, 10):
        assert aligned_error(reference, out[t]) < 0.02, (t, aligned_error(reference, out[t]))
    # the driver's mouth opening, in eye distances, is the output's
    opening, driven = expression_features(out)[:, 0], expression_features(clip.landmarks)[:, 0]
    assert opening[30] - opening[5] == pytest.approx(driven[30] - driven[5], rel=0.1)


def test_relative_takes_a_lasting_trait_of_the_driver_as_its_identity(model, monkeypatch):
    """A driver whose resting face carries, in every frame, a trait that the model reads as expression (its
    blendshape 4 at 1.2, mouth still closed): the trait is the driver's look, not a motion, so on the resting
    frames the output is the reference's landmarks within 0.8% of the eye distance, with the picture lifted at the
    driver's pitch (``flt.PITCH_TRUST`` = 0). A neutral face taken from the model's fit (the expression subtracted,
    as before) leaves the trait in the output: 1.8%. As shipped, half the fitted pitch difference between the two
    faces is believed, and the fit misreads it here by 4.8 degrees (both are filmed level): within 1.2%."""
    from faceflt import flt

    expression = np.zeros((40, model.num_expression_coefficients))
    expression[:, 4] = 1.2
    expression[25:, 5] = 0.6
    reference, clip, _ = frontal_pair(model, 7, expression, detail=4.0)
    out = relative_output(model, reference, clip)
    for t in (2, 5, 10):
        assert aligned_error(reference, out[t]) < 0.012, (t, aligned_error(reference, out[t]))
    monkeypatch.setattr(flt, "PITCH_TRUST", 0.0)
    out = relative_output(model, reference, clip)
    for t in (2, 5, 10):
        assert aligned_error(reference, out[t]) < 0.008, (t, aligned_error(reference, out[t]))


def test_the_picture_keeps_the_expression_the_fit_reads_on_the_driver_at_rest(model):
    """The picture's fitted expression is taken away only beyond the driver's at rest (``Neutral.expression``):
    a smiling picture is neutralised against a driver whose rest reads no expression, kept as it is against one
    whose rest reads the same smile, and neutralised by the difference in between (blendshapes add up)."""
    from dataclasses import replace

    from faceflt.fitting import lift
    from faceflt.flt import Neutral, identity_change

    rng = np.random.default_rng(11)
    shape = rng.normal(0, 1.0, model.num_shape_coefficients)
    smile = np.zeros((1, model.num_expression_coefficients))
    smile[0, 3] = 0.8
    picture = syn.landmarks(model, syn.truth(model, shape[None], smile, [[0.0, 0.0, 0.0]])).astype(np.float32)
    ref = faceflt.Reference(picture, faceflt.fit_reference(model, picture, SIZE, None, 3.0))
    read = ref.fit.expression_coeffs[0]
    assert read[3] > 0.4  # the fit sees the smile
    # the driver's neutral face: the model's mean face at rest, lifted as a driver's would be
    rest = np.zeros_like(smile)
    mean = faceflt.fit_reference(model, syn.landmarks(model, syn.truth(model, np.zeros((1, model.num_shape_coefficients)),
                                                                       rest, [[0.0, 0.0, 0.0]])).astype(np.float32), SIZE, None, 3.0)
    base = lift(model, mean.shape_coeffs[0], mean.cameras, mean.projected).points[0]
    n = Neutral(base.astype(np.float32), 0.0, np.zeros_like(read))
    unfitted = faceflt.Reference(picture, replace(ref.fit, expression_coeffs=np.zeros_like(ref.fit.expression_coeffs)))
    neutralised, kept = identity_change(model, ref, n), identity_change(model, unfitted, n)
    eyes = np.linalg.norm(base[45] - base[36])
    assert np.abs(neutralised - kept).max() > 0.03 * eyes  # the smile is taken away against a driver at rest
    np.testing.assert_allclose(identity_change(model, ref, replace(n, expression=read)), kept, atol=1e-4 * eyes)
    # (the jaw's points lie on the fitted face's silhouette, which an expression moves other than linearly)
    half = identity_change(model, ref, replace(n, expression=read / 2))
    np.testing.assert_allclose(half[17:], (neutralised + kept)[17:] / 2, atol=1e-3 * eyes)


def test_the_drivers_resting_expression_is_what_the_fit_reads_on_its_resting_frames(model):
    """``Neutral.expression`` is the fitted blendshape weights of the frames the neutral face is taken from: a
    driver resting with blendshape 4 at 1.2 (mouth closed; open from frame 25 on) reads it as its resting frames'
    fits do, and the mouth-opening blendshape of the later frames does not count."""
    from faceflt.flt import driver_neutral

    expression = np.zeros((40, model.num_expression_coefficients))
    expression[:, 4] = 1.2
    expression[25:, 5] = 0.6
    _, clip, _ = frontal_pair(model, 7, expression)
    track = faceflt.fit_driving(model, clip.landmarks, clip.confidences, clip.size, clip.fps)
    rest = driver_neutral(model, track).expression
    assert rest[4] > 1.0 and rest[5] < 0.1, rest  # the fit reads 1.36 for the 1.2 drawn
    np.testing.assert_allclose(rest, np.median(track.cameras.expression_coeffs[:25], 0), atol=0.02)


def test_relative_leaves_the_mouth_opening_to_the_driver(model):
    """A reference picture whose inner lips stand apart in a way the model cannot take away (6 px, pulled
    apart by hand): the output's lips close where the driver's do, and open as far as the driver's do."""
    expression = np.zeros((40, model.num_expression_coefficients))
    expression[25:, 5] = 0.6
    reference, clip, _ = frontal_pair(model, 5, expression)
    reference[[61, 62, 63], 1] -= 3.0
    reference[[65, 66, 67], 1] += 3.0
    out = relative_output(model, reference, clip)
    gap = lambda lms: np.mean([lms[:, j, 1] - lms[:, i, 1] for i, j in ((61, 67), (62, 66), (63, 65))], 0)
    steady = np.r_[0:22, 29:40]  # the low-pass on the driver's landmarks reaches 3 frames either side of the step at 25
    np.testing.assert_allclose(gap(out)[steady], gap(clip.landmarks)[steady], atol=0.5)
    # around the step, the jump within one frame rings beyond the closed and the open mouth by under a tenth of its
    # height (smoothing.lowpass)
    closed, opened = gap(clip.landmarks)[20], gap(clip.landmarks)[30]
    ring = 0.1 * (opened - closed) + 0.5
    assert np.all((gap(out)[22:29] >= closed - ring) & (gap(out)[22:29] <= opened + ring))


def test_relative_with_a_mouth_open_throughout(model):
    """A driver whose mouth is open in every frame (no resting face to take as neutral): the output's lower
    face is the exact answer's (the reference's shape with the driver's expression, similarity-aligned by the
    eyes and nose) within 4% of the eye distance, not the reference's closed mouth moved by the driver's
    motion only."""
    frames = 40
    expression = np.zeros((frames, model.num_expression_coefficients))
    expression[:, 5] = 0.5 + 0.2 * np.sin(np.arange(frames) / 4.0)  # open, more or less
    reference, clip, ref_shape = frontal_pair(model, 9, expression)
    assert (expression_features(clip.landmarks)[:, 0] > 0.1).all()  # never closed
    exact = syn.landmarks(model, syn.truth(model, np.tile(ref_shape, (frames, 1)), expression, np.zeros((frames, 3))))
    out = relative_output(model, reference, clip)
    rigid, lower = [27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45], np.r_[5:12, 48:68]  # eyes and nose; chin and mouth
    error = np.mean([aligned_error(exact[t], out[t], by=rigid, points=lower) for t in range(frames)])
    assert error < 0.04, error


def test_relative_keeps_identity_when_the_driver_holds_an_expression(model, people):
    """A driver holding an expression (anger, 80% of the frames) does not leak it into the identity: the
    transfer stays positive and close to the one with a driver that does not hold it."""
    a, _ = people
    rng = np.random.default_rng(11)
    shape = rng.normal(0, 1.2, model.num_shape_coefficients)
    held = person(synthetic_clip(model, "held", shape, 150, rng, held=0))
    calm = person(synthetic_clip(model, "calm", shape, 150, rng))
    assert not isinstance(held, str) and not isinstance(calm, str)
    scores = {}
    for driver in (held, calm):
        out = relative_output(model, a.reference_landmarks, driver.clip)
        scores[driver.name] = score_pair(a, driver, "relative", out, len(out))
    assert scores["held"].transfer > 0.5, scores["held"].transfer
    assert scores["held"].transfer > scores["calm"].transfer - 0.2
    assert scores["held"].fidelity > 0.9


@pytest.fixture(scope="module")
def real_clips(model_dir, tmp_path_factory):
    """Two real one-person videos, detected once with dlib (about 25 s)."""
    cache = tmp_path_factory.mktemp("landmarks")
    paths = [require(VIDEOS / f"{name}.mp4", f"{name}.mp4") for name in ("tpsmm_driving", "liveportrait_d12")]
    return paths, cache, [detect_clip(p, "dlib", cache) for p in paths]


def test_protocol_on_real_people(real_clips, model_dir, tmp_path):
    """Two real people, both ways: the driver scores 0, paste has no expression, the relative mode moves the
    face towards the reference person (measured 0.68 and 0.63 on these pairs) with the driver's expression,
    and A <- A gives back A about as closely as the reference picture itself is to A's frames.

    Self-transfer measured here: 0.054 (tpsmm) and 0.029 (d12) eye distances, where the reference picture
    alone (paste) is 0.050 and 0.059 from the same frames: the tpsmm frame that the protocol takes as the
    picture is not at rest, and the output keeps what the picture shows. Over the 13 people of the
    developer and held-out sets (300 frames) the mean is 0.026."""
    from faceflt.evaluation.head_pose import with_head_poses
    from faceflt.evaluation.transfer_report import run_protocol, write_report

    _, cache, clips = real_clips
    if FACE_MESH:
        clips = with_head_poses(clips, cache, progress=False)
    result = run_protocol(clips, [faceflt.Mode.RELATIVE], frames=150, model_dir=str(model_dir), progress=False)
    summary = {s.method: s for s in result.summaries}
    assert summary["driver"].transfer == pytest.approx(0.0)
    assert abs(summary["paste"].fidelity) < 0.3
    assert summary["relative"].transfer > 0.4 and summary["relative"].worst_pair > 0.2
    # the expression goals (measured: fidelity 0.986, amplitude 0.99, jitter 0.69)
    assert summary["relative"].fidelity >= 0.97 and 0.95 <= summary["relative"].amplitude <= 1.05 and summary["relative"].jitter <= 1.0
    selfs, pictures = result.self_transfer["relative"], result.self_transfer["paste"]
    assert np.mean(list(selfs.values())) < 0.045
    assert all(selfs[name] < pictures[name] + 0.01 for name in selfs), (selfs, pictures)
    text = write_report(result, tmp_path / "report")
    assert "| relative |" in text and "| relative-2d |" in text
    assert "Where the distance is, per identity feature" in text and "| relative, turned |" in text
    assert "Paired differences" in text and "| relative - paste |" in text and "| relative - relative-2d |" in text
    # the interval of each figure holds it (here: two people, one resampling in two holds both)
    for s in result.summaries:
        lo, hi = s.interval
        assert lo - 1e-9 <= s.transfer <= hi + 1e-9, (s.method, s.transfer, s.interval)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Where the distance is"))
    row = next(line for line in lines[start:] if line.startswith("| driver | "))
    assert row.count("(") == len(FEATURES)  # each feature's RMS with its mean signed error
    assert {p.name for p in (tmp_path / "report").iterdir()} >= {"report.md", "scores.json", "identity_pairs.png"}
    # at matched head pose (the clips' head poses measured): a second table, with the own-frames anchor, and the
    # paired differences there
    if not FACE_MESH:
        return
    assert "At matched head pose" in text and "| own-frames |" in text and "| relative - paste, at matched head pose |" in text
    assert summary["driver"].at_pose.transfer == pytest.approx(0.0) and summary["relative"].at_pose.transfer > 0.3
    assert "own-frames" not in result.self_transfer  # each of A's early frames would find itself
    pairs = json.loads((tmp_path / "report" / "scores.json").read_text())["pairs"]
    assert all(len(p["posed"]) == 2 and "posed_turned" in p for p in pairs)


def test_self_transfer_error_is_a_distance_in_eye_units(real_clips):
    _, _, clips = real_clips
    lms = clips[0].landmarks
    assert self_transfer_error(lms, lms) == 0.0
    moved = lms.copy()
    eyes = np.linalg.norm(lms[:, 45] - lms[:, 36], axis=-1)
    moved[..., 0] += 0.05 * eyes[:, None]
    assert self_transfer_error(moved, lms) == pytest.approx(0.05, rel=1e-3)


def test_eval_identity_cli(real_clips, model_dir, tmp_path, capsys):
    paths, cache, _ = real_clips
    manifest = tmp_path / "people.txt"
    manifest.write_text("# two people\n" + "\n".join(str(p) for p in paths) + "\n")
    out = tmp_path / "report"
    assert main(["eval", "identity", "--people", str(manifest), "--out", str(out), "--cache", str(cache), "--modes", "relative",
                 "--frames", "60", "--model-dir", str(model_dir)]) == 0
    printed, err = capsys.readouterr()
    assert "| relative |" in printed and (out / "report.md").is_file()
    if FACE_MESH:
        assert "At matched head pose" in printed and {p.name for p in cache.iterdir()} >= {f"{p.stem}.mesh.npz" for p in paths}
    else:  # one line says what is missing and how to leave it out
        assert "head poses not measured" in err and "--no-head-pose" in err and "Traceback" not in err
    assert main(["eval", "identity", "--people", str(manifest), "--out", str(out), "--cache", str(cache), "--modes", "relative",
                 "--frames", "60", "--model-dir", str(model_dir), "--no-head-pose"]) == 0
    printed = capsys.readouterr().out
    assert "| relative |" in printed and "At matched head pose" not in printed and "own-frames" not in printed
    assert main(["eval", "identity", "--people", str(manifest), "--out", str(out), "--cache", str(cache), "--calibrate"]) == 0
    assert "| jaw_width_0.4 |" in capsys.readouterr().out
    # bad input: one line, no traceback, before any work
    assert main(["eval", "identity", "--people", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert main(["eval", "identity", "--people", str(manifest), "--out", str(out), "--modes", "bogus"]) == 1
    assert main(["eval", "identity", "--people", str(manifest), "--out", str(out), "--frames", "0"]) == 1
    assert main(["eval", "identity", "--people", str(manifest), "--out", str(out), "--modes", ","]) == 1
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00\x81" * 8)
    assert main(["eval", "identity", "--people", str(tmp_path / "binary.txt"), "--out", str(out)]) == 1
    (tmp_path / "file.md").write_text("kept")
    assert main(["eval", "identity", "--people", str(manifest), "--out", str(tmp_path / "file.md")]) == 1
    err = capsys.readouterr().err
    assert "no such folder" in err and "mode must be one of" in err and "--frames must be at least 3" in err
    assert "--modes names no FLT mode" in err and "binary.txt: not a text file" in err
    assert "file.md: a file of that name exists" in err and "Traceback" not in err
    # a run that fails after its start writes no report, and keeps the landmarks it detected for the next run
    one = tmp_path / "one.txt"
    one.write_text(f"{paths[0]}\n")
    assert main(["eval", "identity", "--people", str(one), "--out", str(tmp_path / "r1"), "--modes", "relative",
                 "--no-head-pose", "--model-dir", str(model_dir)]) == 1
    assert "at least 2 people" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "r1").iterdir()] == ["landmarks"]


def test_a_manifest_names_one_person_in_several_videos(tmp_path):
    for name in ("a1.mp4", "a2.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"")
    manifest = tmp_path / "people.txt"
    manifest.write_text("a1.mp4 = anna  # two clips of one speaker\na2.mp4=anna\nb.mp4\n")
    assert find_clips(manifest) == [Video(tmp_path / "a1.mp4", "anna"), Video(tmp_path / "a2.mp4", "anna"), Video(tmp_path / "b.mp4")]
    manifest.write_text("a1.mp4 =\n")
    with pytest.raises(InputError, match="'path = name'"):
        find_clips(manifest)
    # a path that holds '=' itself names its file; two videos of one file name are refused (their caches would mix)
    (tmp_path / "take=2.mp4").write_bytes(b"")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.mp4").write_bytes(b"")
    manifest.write_text("take=2.mp4\nb.mp4 = bob\n")
    assert find_clips(manifest) == [Video(tmp_path / "take=2.mp4"), Video(tmp_path / "b.mp4", "bob")]
    manifest.write_text("take=2.mp4 = anna\n")
    assert find_clips(manifest) == [Video(tmp_path / "take=2.mp4", "anna")]
    manifest.write_text("b.mp4\nother/b.mp4\n")
    with pytest.raises(InputError, match="several videos are named b"):
        find_clips(manifest)


def test_the_protocol_never_pairs_one_persons_videos(model, model_dir, tmp_path):
    """Two clips of one person (the same face, other noise) are not a pair: a driver who already is the
    reference person has nothing to transfer, and its tiny distance would swing the pair's figure."""
    from dataclasses import replace

    from faceflt.evaluation.transfer import calibrate
    from faceflt.evaluation.transfer_report import run_protocol, write_report

    rng = np.random.default_rng(5)
    shapes = rng.normal(0, 1.2, (2, model.num_shape_coefficients))
    a1, a2 = (replace(synthetic_clip(model, n, shapes[0], 90, rng), person="a") for n in ("a1", "a2"))
    b = synthetic_clip(model, "b", shapes[1], 90, rng)
    result = run_protocol([a1, a2, b], [faceflt.Mode.RELATIVE], frames=90, model_dir=str(model_dir), progress=False)
    assert sorted(result.pairs) == [("a1", "b"), ("a2", "b"), ("b", "a1"), ("b", "a2")]
    assert {(s.reference, s.driver) for s in result.scores} == set(result.pairs)
    assert result.one_person == {"a": ["a1", "a2"]} and set(result.self_transfer["relative"]) == {"a1", "a2", "b"}
    text = write_report(result, tmp_path / "report")
    assert text.count("| a1 <- a2 |") == 0 and "| a1 <- b |" in text and "3 videos of 2 people" in text
    assert "One person in several videos (never paired with each other): a: a1, a2" in text
    assert json.loads((tmp_path / "report" / "scores.json").read_text())["one_person"] == {"a": ["a1", "a2"]}
    # the resamplings draw people, not videos: a person's two videos are drawn together, so every resampling that
    # holds both people holds all four pairs, and the figure over them is the pooled one
    frontal, _ = resampled(result.scores, "relative")
    pooled = summarise(result.scores, "relative").transfer
    both = frontal[np.isfinite(frontal)]
    np.testing.assert_allclose(both, pooled, rtol=1e-9)
    # calibration takes a person's clips together: two people here, not three
    assert {people for _, _, people in calibrate([a1, a2, b]).values()} == {2}
    with pytest.raises(ValueError, match="at least 2 people; 1 qualify"):
        run_protocol([a1, a2], [faceflt.Mode.RELATIVE], frames=90, model_dir=str(model_dir), progress=False)


def test_synthetic_benchmark_knows_the_answer(model):
    """Where the exact answer is known (faces drawn from the model), both modes come nearer to it than the
    driver's own landmarks on the inner face (measured with seed 0, 4 pairs: driver 7.0 px, relative 6.4,
    project 6.9)."""
    from faceflt.evaluation.synthetic import synthetic_benchmark

    r = synthetic_benchmark(model, pairs=4, frames=40, seed=0)
    assert set(r) == {"none", "relative", "project"}
    assert r["relative"]["inner"] < r["none"]["inner"] and r["project"]["inner"] < r["none"]["inner"]


def test_people_resamplings_pair_up_across_methods():
    """resampled() draws the same people for every method (fixed seed), so a method less itself is 0 in every
    resampling, and a pair with more of the people drawn weighs more: four people, one of whom (D) every method
    fails on, give an interval that shows it, and a paired difference that is exact where the methods differ by a
    constant factor."""
    def pair(a, b, method, d_out, d_drv=1.0):
        return PairScores(a, b, method, d_out, d_drv, {}, {}, 1.0, 1.0, 10)

    people = "ABCD"
    scores = [pair(a, b, m, (0.2 if m == "x" else 0.4) * (3.0 if "D" in (a, b) else 1.0))
              for a in people for b in people if a != b for m in ("x", "y")]
    x, y = resampled(scores, "x"), resampled(scores, "y")
    assert np.isfinite(x[0]).mean() > 0.9 and np.isnan(x[1]).all()  # no head-turn cases: NaN
    np.testing.assert_array_equal(x[0][np.isfinite(x[0])] - resampled(scores, "x")[0][np.isfinite(x[0])], 0)
    ok = np.isfinite(x[0])
    # d_out(x) = 0.5 d_out(y) on every pair: 1 - pooled(x) = (1 - pooled(y)) / 2 in every resampling
    np.testing.assert_allclose(1 - x[0][ok], (1 - y[0][ok]) / 2)
    lo, hi = interval(x[0])
    assert lo < summarise(scores, "x").transfer < hi and hi - lo > 0.1  # D in or out of the draw moves it


def test_the_synthetic_head_turn_study_runs_and_shows_what_docs_identity_says(model):
    """tools/synthetic_turns.py (the head-turn study of docs/identity.md), small: on the model's own faces with every
    parameter exact, `relative` is far closer to the exact answer than the driver at every angle, and its error still
    grows with the turn (the jaw's silhouette). Should a change make it flat, that account is out of date."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("synthetic_turns", Path(__file__).resolve().parents[1] / "tools" / "synthetic_turns.py")
    synthetic_turns = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synthetic_turns)
    table = synthetic_turns.run(model, pairs=4, frames=90, seed=1, exact="csr", with_sliding=False)
    assert (table["relative"] < 0.5 * table["driver"]).all(), table
    assert table["relative"][-1] > 1.2 * table["relative"][0], table
    with_sliding = synthetic_turns.run(model, pairs=2, frames=40, seed=1, exact="", with_sliding=True)
    assert np.isfinite(with_sliding["relative"]).all()
    # the protocol's turn measure reads more yaw per unit of asymmetry as the head pitches up; the fit's yaw does not
    by_pitch = synthetic_turns.asymmetry_by_pitch(model, faces=2)
    assert by_pitch[-20][0] < by_pitch[0][0] < by_pitch[20][0] and by_pitch[20][0] > 1.4 * by_pitch[-20][0], by_pitch
    assert all(1.0 < ratio < 1.3 for _, ratio in by_pitch.values()), by_pitch


def test_the_protocol_checked_on_the_models_own_people(model):
    """tools/synthetic_protocol.py, small (8 people drawn from the model, seed 0; docs/identity.md): the identity
    figure where the exact answer is known. With every camera at one pitch, the exact answer scores far above paste
    frontally (measured 0.87 against 0.76) and above relative-2d under head turns (0.83 against 0.68). With each
    camera's pitch drawn within 6 degrees (two up to 12 apart), the exact answer falls below paste and below `relative`
    with the picture lifted at the driver's pitch (0.69 against 0.80 and 0.79): the comparison with the reference
    person at their own pitch counts a camera's pitch as the person's identity. Distance to the exact answer: with
    the cameras alike, the picture lifted at the driver's pitch is nearest (0.019 eye distances; the shipped half of
    the fitted difference 0.020; the picture's own pitch 0.028, the fit's pitch misread on these faces); with them
    apart, the shipped mode is nearest (0.028; 0.036 and 0.030); these margins are small (0.001-0.002) but this draw is
    fixed. The shipped mode itself now scores 0.74 frontally with the cameras apart, level with the exact answer's
    0.69 + 0.05, so the account of the comparison counting pitch as identity rests on the driver's-pitch row, the rule
    it was first written about. At matched head pose the exact answer leads every other row by more than 0.05, the
    cameras level or apart, frontally and under head turns. Should the protocol or the mode change, this test fails
    and that account is out of date."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("synthetic_protocol", Path(__file__).resolve().parents[1] / "tools" / "synthetic_protocol.py")
    synthetic_protocol = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synthetic_protocol)
    driver_pitch, own_pitch = "relative, driver's pitch", "relative, picture's pitch"
    level = synthetic_protocol.run(model, people=8, pitch_spread=0.0, seed=0)
    assert level["exact"].frontal > level["paste"].frontal + 0.05, level
    assert level["exact"].turned > level["relative-2d"].turned + 0.1, level
    assert level[driver_pitch].distance < level["relative"].distance < level[own_pitch].distance, level
    pitched = synthetic_protocol.run(model, people=8, pitch_spread=6.0, seed=0)
    assert pitched["exact"].frontal < min(pitched["paste"].frontal, pitched[driver_pitch].frontal) - 0.05, pitched
    assert pitched["relative"].distance < min(pitched[driver_pitch].distance, pitched[own_pitch].distance), pitched
    # at matched head pose (each clip's true head pose given), the exact answer leads every row again, the cameras
    # apart (measured 0.89 frontal and 0.87 under head turns, paste 0.79 and 0.64) as level (0.91 and 0.87)
    for rows in (level, pitched):
        others = [r.at_pose for m, r in rows.items() if m not in ("exact", "driver")]
        assert rows["exact"].at_pose[0] > max(o[0] for o in others) + 0.05, rows
        assert rows["exact"].at_pose[1] > max(o[1] for o in others) + 0.05, rows
