"""The landmark metrics on sequences whose answers are known, and the evaluation report."""

from __future__ import annotations

import numpy as np
import pytest

from faceflt.evaluation import expression_features, identity_transfer, jitter, score_landmarks
from faceflt.evaluation.report import pair_up

import synthetic as syn


def make_faces(model, seed: int):
    """A driver (T frames, moving expression and head) and a reference of another identity; the
    'ideal' output is the reference identity with the driver's expression and pose."""
    rng = np.random.default_rng(seed)
    t = 40
    driver_shape, reference_shape = rng.normal(0, 1.2, 63), rng.normal(0, 1.2, 63)
    expression = np.zeros((t, 6))
    expression[:, 5] = 0.6 * (np.sin(np.arange(t) / 4) > 0)  # surprise on and off: mouth opens, brows rise
    expression[:, 3] = 0.3 * (np.cos(np.arange(t) / 6) > 0)
    ypr = np.c_[np.sin(np.arange(t) / 7) * 8, np.zeros(t), np.zeros(t)]
    driving = syn.landmarks(model, syn.truth(model, np.tile(driver_shape, (t, 1)), expression, ypr))
    ideal = syn.landmarks(model, syn.truth(model, np.tile(reference_shape, (t, 1)), expression, ypr))
    # the reference picture: turned 20 degrees from the driver's mean pose, smiling as the driver does at times
    smile = np.zeros((1, 6))
    smile[0, 3] = 0.3
    reference = syn.landmarks(model, syn.truth(model, reference_shape[None], smile, [[-20.0, 5.0, 0.0]]))
    return driving, ideal, reference


@pytest.fixture(scope="module")
def faces(model):
    return make_faces(model, 0)


def test_identity_transfer_is_0_for_the_driver_and_near_1_for_the_answer_whatever_the_pose(model, faces):
    driving, ideal, reference = faces
    size = (512, 512)
    assert score_landmarks(model, driving, driving, reference, size).identity_transfer == pytest.approx(0.0)
    # a face bigger in the image, and the reference in a picture of another size: the same score
    ideal_score = identity_transfer(model, ideal, driving, reference, size)
    scaled = identity_transfer(model, ideal, driving, reference * 2 + 30, size, (1100, 1100))
    assert scaled == pytest.approx(ideal_score, abs=0.05)
    # The exact answer over 8 identity pairs: pose and expression differ from the reference picture's,
    # the identity is the same. (2D landmarks aligned by a similarity scored such answers 0.04-0.5,
    # pose and expression dominating; frontalized features remove most of both. Measured mean 0.88,
    # per pair 0.5-1.3: the jaw points sit at other places of the outline, and the mean face that
    # frontalizes is not the face.)
    exact, halfway = [], []
    for seed in range(8):
        driving, ideal, reference = make_faces(model, seed)
        exact.append(identity_transfer(model, ideal, driving, reference, size))
        halfway.append(identity_transfer(model, (driving + ideal) / 2, driving, reference, size))
    assert 0.75 < np.mean(exact) < 1.1
    assert np.mean(halfway) == pytest.approx(np.mean(exact) / 2, abs=0.08)


def test_expression_fidelity_and_jitter(model, faces):
    driving, ideal, reference = faces
    score = lambda output: score_landmarks(model, output, driving, reference, (512, 512))
    s = score(ideal)
    assert s.expression_correlation["mouth_opening"] > 0.95  # the surprise blendshape opens the mouth
    frozen = np.repeat(ideal[:1], len(ideal), 0) + np.random.default_rng(1).normal(0, 0.01, ideal.shape)
    assert score(frozen).expression_correlation["mouth_opening"] < 0.5
    assert s.jitter_ratio == pytest.approx(1.0, abs=0.3)
    shaky = ideal + np.random.default_rng(2).normal(0, 1.0, ideal.shape)
    assert score(shaky).jitter_ratio > 1.5
    # expression features are invariant to where the face is, how large and how rolled in the image
    c, s_ = np.cos(0.3), np.sin(0.3)
    moved = 1.7 * ideal @ np.array([[c, -s_], [s_, c]]).T + 40
    np.testing.assert_allclose(expression_features(moved), expression_features(ideal), atol=1e-5)
    assert jitter(moved) == pytest.approx(jitter(ideal), rel=1e-5)


def test_pairing_is_a_fixed_seed_shuffle(tmp_path):
    videos = [tmp_path / f"v{i}.mp4" for i in range(5)]
    images = [tmp_path / f"i{i}.jpg" for i in range(3)]
    a, b = pair_up(videos, images, seed=0), pair_up(list(reversed(videos)), images, seed=0)
    assert a == b and [v for v, _ in a] == sorted(videos)
    assert {i for _, i in a} == set(images)  # every picture is used
    assert pair_up(videos, images, seed=1) != a or len(images) == 1


def test_synthetic_benchmark_knows_the_answer(model):
    """Where the exact answer is known: the fitted modes come nearer to it than the driver's own landmarks
    (measured with seed 0: driver 7.0 px, project 6.7, delta 6.8 on the inner face). The gap is small: the
    identity recovered from 68 landmarks is weak, which is what limits identity transfer on real data too."""
    from faceflt.evaluation.synthetic import synthetic_benchmark

    r = synthetic_benchmark(model, pairs=4, frames=40, seed=0)
    assert set(r) == {"none", "residual", "delta", "project"}
    assert r["project"]["inner"] < r["none"]["inner"] and r["delta"]["inner"] < r["none"]["inner"]


def test_frames_without_a_face_are_left_out(model, faces):
    driving, ideal, reference = faces
    holed = ideal.copy()
    holed[5:9] = np.nan  # no face there
    full = score_landmarks(model, ideal, driving, reference, (512, 512))
    partial = score_landmarks(model, holed, driving, reference, (512, 512))
    assert np.isfinite(partial.identity_transfer) and np.isfinite(partial.jitter_ratio)
    assert partial.expression_correlation["mouth_opening"] == pytest.approx(full.expression_correlation["mouth_opening"], abs=0.05)
    with pytest.raises(ValueError, match="3 are needed"):
        score_landmarks(model, np.full_like(ideal, np.nan), driving, reference, (512, 512))
