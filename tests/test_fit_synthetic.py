"""Round trips on synthetic faces of known identity, expression and pose: sample -> project -> fit -> recover.

Tolerances, and why:
- Free fit from 68 noise-free points: shape, expression and pitch trade against each other under a
  scaled-orthographic camera and a regularised shape (an ambiguity of the method, the same in eos), so
  we ask for: mean landmark error < 3 px on a ~300 px face, yaw < 5 deg, roll < 2 deg, pitch < 10 deg,
  and an identity nearer the truth than the mean face.
- Fit with the identity fixed (driving frames), 30 rounds: exact (pose < 0.05 deg, expression < 0.01,
  landmarks < 0.1 px); with eos's 5 rounds and the contour: median pose error < 0.5 deg, expression < 0.1.
- With 1.5 px detector noise: pose < 1 deg, expression < 0.1.
"""

from __future__ import annotations

import numpy as np
import pytest

import faceflt
from faceflt import _core
from faceflt.errors import FitError

import synthetic as syn

CONTOUR_ONLY = faceflt.FitOptions(use_occluding_edge=False)  # the synthetic jaw points are model-contour points


@pytest.fixture(scope="module")
def scene(model):
    rng = np.random.default_rng(7)
    shape, expression, ypr = syn.sample(rng, model, 12)
    t = syn.truth(model, shape, expression, ypr)
    return shape, expression, ypr, syn.landmarks(model, t)


def _vertices(model, shape):
    shape = np.asarray(shape, np.float32).reshape(len(shape), -1)
    return _core.build_meshes(model, shape, np.zeros((len(shape), model.num_expression_coefficients), np.float32))


def test_free_fit_recovers_pose_and_moves_identity_towards_truth(model, scene):
    shape, expression, ypr, lms = scene
    r = faceflt.fit(model, lms, (512, 512), CONTOUR_ONLY)
    assert r.ok.all()
    assert np.linalg.norm(r.projected - lms, axis=2).mean() < 3.0
    err = np.abs(r.yaw_pitch_roll - ypr).max(axis=0)
    assert err[0] < 5 and err[1] < 10 and err[2] < 2, err
    truth = _vertices(model, shape)
    fitted = np.linalg.norm(_vertices(model, r.shape_coeffs) - truth, axis=2).mean()
    mean_face = np.linalg.norm(_vertices(model, 0 * shape) - truth, axis=2).mean()
    assert fitted < 0.85 * mean_face, (fitted, mean_face)


def test_fixed_identity_fit_recovers_expression_and_pose(model, scene):
    shape, expression, ypr, lms = scene
    # Camera and expression alternate; given enough rounds they reach the exact answer.
    converged = faceflt.FitOptions(use_contour=False, use_occluding_edge=False, num_iterations=30)
    default = []
    for i in range(len(lms)):
        r = faceflt.fit(model, lms[i], (512, 512), converged, shape_coeffs=shape[i])
        np.testing.assert_array_equal(r.shape_coeffs[0], shape[i].astype(np.float32))  # held, not fitted
        np.testing.assert_allclose(r.yaw_pitch_roll[0], ypr[i], atol=0.05)
        np.testing.assert_allclose(r.expression_coeffs[0], expression[i], atol=0.01)
        assert np.abs(r.projected[0] - lms[i]).max() < 0.1
        d = faceflt.fit(model, lms[i], (512, 512), CONTOUR_ONLY, shape_coeffs=shape[i])
        default.append([np.abs(d.yaw_pitch_roll[0] - ypr[i]).max(), np.abs(d.expression_coeffs[0] - expression[i]).max()])
    # With eos's 5 rounds and the jaw contour (the synthetic jaw points are model-contour vertices, not
    # a silhouette, so the occluding edge is left out): close for the typical frame. The contour's sliding
    # correspondences can hold a near-frontal, pitched face in a nearby minimum, as in eos.
    median = np.median(default, axis=0)
    assert median[0] < 0.5 and median[1] < 0.1, median


def test_detector_noise_is_tolerated(model, scene):
    shape, expression, ypr, lms = scene
    noisy = lms + np.random.default_rng(1).normal(0, 1.5, lms.shape).astype(np.float32)
    options = faceflt.FitOptions(use_contour=False, use_occluding_edge=False, num_iterations=30)
    r = faceflt.fit(model, noisy, (512, 512), options, shape_coeffs=shape[0])
    np.testing.assert_allclose(r.yaw_pitch_roll[0], ypr[0], atol=1.0)
    np.testing.assert_allclose(r.expression_coeffs[0], expression[0], atol=0.1)


def test_joint_identity_fit_beats_single_pictures(model):
    rng = np.random.default_rng(3)
    shape = rng.normal(0, 0.8, size=(1, model.num_shape_coefficients)).repeat(4, axis=0)
    _, expression, ypr = syn.sample(rng, model, 4, max_yaw=35)
    lms = syn.landmarks(model, syn.truth(model, shape, expression, ypr))
    truth = _vertices(model, shape[:1])
    joint = faceflt.fit_identity(model, lms, (512, 512), CONTOUR_ONLY)
    assert np.ptp(joint.shape_coeffs, axis=0).max() == 0  # one shared identity
    single = faceflt.fit(model, lms, (512, 512), CONTOUR_ONLY)
    joint_err = np.linalg.norm(_vertices(model, joint.shape_coeffs[:1]) - truth, axis=2).mean()
    single_err = np.mean([np.linalg.norm(_vertices(model, s[None]) - truth, axis=2).mean() for s in single.shape_coeffs])
    assert joint_err < single_err, (joint_err, single_err)
    np.testing.assert_allclose(joint.yaw_pitch_roll[:, 0], ypr[:, 0], atol=5)


def test_batch_modes_agree(model, scene):
    *_, lms = scene
    one_by_one = np.stack([faceflt.fit(model, x, (512, 512)).projected[0] for x in lms])
    threaded = faceflt.fit(model, lms, (512, 512), num_threads=2).projected
    np.testing.assert_array_equal(threaded, one_by_one)  # frames are independent and deterministic
    sequential = faceflt.fit(model, lms, (512, 512), sequential=True)
    assert sequential.ok.all()


def test_missing_landmarks(model, scene):
    *_, lms = scene
    some = lms[0].copy()
    some[[30, 36, 45, 48]] = np.nan  # nose tip, eye and mouth corners lost
    r = faceflt.fit(model, some, (512, 512))
    assert r.ok[0] and r.num_landmarks_used[0] == 48
    conf = np.ones((1, 68), np.float32)
    conf[0, 17:27] = 0.1  # low-confidence brows count as missing
    r = faceflt.fit(model, lms[0], (512, 512), confidences=conf, min_confidence=0.3)
    assert r.num_landmarks_used[0] == 42

    batch = lms[:3].copy()
    batch[1] = np.nan  # a frame with no face
    with pytest.raises(FitError, match=r"1 of 3 frames.*frame 1: only 0 usable landmarks"):
        faceflt.fit(model, batch, (512, 512))
    r = faceflt.fit(model, batch, (512, 512), on_failure="nan")
    assert list(r.ok) == [True, False, True]
    assert np.isnan(r.projected[1]).all() and np.isfinite(r.projected[[0, 2]]).all()
    assert "usable landmarks" in r.errors[1]


def test_shape_errors_name_the_argument(model):
    with pytest.raises(ValueError, match=r"fit\(\): landmarks must have shape \(68, 2\) or \(B, 68, 2\), got \(68, 3\)"):
        faceflt.fit(model, np.zeros((68, 3)), (512, 512))
    with pytest.raises(ValueError, match=r"fit_batch\(\): landmarks must have shape \(B, 68, 2\), got \(2, 5, 2\)"):
        faceflt.fit(model, np.zeros((2, 5, 2)), (512, 512))
    with pytest.raises(ValueError, match="image_size"):
        faceflt.fit(model, np.zeros((2, 68, 2)), [(512, 512)] * 3)


def test_fit_driving_checks_its_arguments(model, scene):
    """Before any fit: a frame rate of 0 would divide by zero in the smoothing, and a clip of the wrong shape would fail
    deep inside it."""
    lms = scene[3][:3]
    conf = np.ones(lms.shape[:2], np.float32)
    for kwargs, match in (({"fps": 0.0}, "fps must be a positive number, got 0.0"),
                          ({"fps": float("nan")}, "fps must be a positive number"),
                          ({"fps": 30.0, "smoothing": -1.0}, "smoothing must be 0 .off. or more, got -1.0"),
                          ({"fps": 30.0, "max_gap": -1}, "max_gap must be 0 or more")):
        with pytest.raises(ValueError, match=match):
            faceflt.fit_driving(model, lms, conf, (512, 512), **kwargs)
    with pytest.raises(ValueError, match=r"landmarks must be \(T, 68, 2\) and confidences \(T, 68\), got \(3, 68, 2\) and \(3,\)"):
        faceflt.fit_driving(model, lms, conf[:, 0], (512, 512), 30.0)


@pytest.mark.parametrize("size", [(float("inf"), 750), (2**40, 750), np.array([2**32 + 1000, 750]), (0, 750), (640.5, 480),
                                  np.array([[640, -1]])])
def test_image_sizes_are_checked_before_any_cast(model, scene, size):
    """No OverflowError and no silent wrap-around (2**32 + 1000 is not 1000): a ValueError naming the limit."""
    with pytest.raises(ValueError, match=r"fit\(\): image sizes must be whole numbers from 1 to 65536"):
        faceflt.fit(model, scene[3][:1], size)


def test_degenerate_landmarks_fail_the_frame(model, scene):
    """Points that cannot be a face fail with a reason; a single absurd point counts as missing."""
    good = scene[3][0]
    one_point = np.full((68, 2), 256.0, np.float32)
    line = np.c_[np.linspace(100, 400, 68), np.linspace(100, 400, 68)].astype(np.float32)
    fits = faceflt.fit(model, np.stack([one_point, line, good]), (512, 512), on_failure="nan")
    assert fits.ok.tolist() == [False, False, True]
    assert "one point" in fits.errors[0] and "on a line" in fits.errors[1]
    with pytest.raises(FitError, match="not a face"):
        faceflt.fit(model, one_point, (512, 512))
    far = good.copy()
    far[30] = 3e38
    moved = faceflt.fit(model, far, (512, 512)).projected[0]
    clean = faceflt.fit(model, good, (512, 512)).projected[0]
    missing = good.copy()
    missing[30] = np.nan
    np.testing.assert_allclose(moved, faceflt.fit(model, missing, (512, 512)).projected[0], atol=1e-3)
    assert np.abs(moved - clean).max() < 5
    # ok=True never comes with non-finite output
    assert np.isfinite(fits.projected[fits.ok]).all()


def test_coefficients_and_model_are_checked(model, scene):
    lms = scene[3][:1]
    for bad, match in (({"shape_coeffs": np.zeros(1000)}, "shape_coeffs must have 63 values"),
                       ({"shape_coeffs": np.zeros(5)}, "shape_coeffs must have 63 values"),
                       ({"shape_coeffs": np.full(63, 1e30)}, "shape_coeffs must be finite and within"),
                       ({"expression_start": np.zeros(100)}, "expression_start must have 6 values")):
        with pytest.raises(ValueError, match=match):
            faceflt.fit(model, lms, (512, 512), **bad)
    with pytest.raises(TypeError, match=r"fit\(\): model must be a FaceModel from faceflt.load_model\(\), got NoneType") as e:
        faceflt.fit(None, lms, (512, 512))
    assert len(str(e.value)) < 120  # one line, no array dump
