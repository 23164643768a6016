"""FLT fusion: reference identity + driving expression under the driving camera, projected to 68 points."""

from __future__ import annotations

import numpy as np
import pytest

import faceflt

import synthetic as syn


def project(fit: faceflt.FitResult, vertices: np.ndarray) -> np.ndarray:
    """Independent numpy oracle of the camera: u = s (r1.X + tx), v = H - s (r2.X + ty)."""
    r, s, t, h = fit.rotation, fit.scale[:, None], fit.translation, fit.image_size[:, 1:2]
    u = s * (np.einsum("bj,bnj->bn", r[:, 0], vertices) + t[:, :1])
    v = h - s * (np.einsum("bj,bnj->bn", r[:, 1], vertices) + t[:, 1:])
    return np.stack([u, v], axis=-1)


@pytest.fixture(scope="module")
def pair(model):
    rng = np.random.default_rng(11)
    shape, expression, ypr = syn.sample(rng, model, 6, max_yaw=40)
    reference_shape = rng.normal(0, 1.0, model.num_shape_coefficients).astype(np.float32)
    driving = syn.truth(model, shape, expression, ypr)
    return reference_shape, driving


def test_fused_face_is_reference_identity_with_driving_expression(model, pair):
    reference_shape, driving = pair
    fused = faceflt.fuse(model, reference_shape, driving, return_mesh=True)
    # The mesh, rebuilt here from the model's components (numpy, independent of the core's fusion).
    expect = model.mean + np.einsum("k,knc->nc", reference_shape, model.shape_components)
    expect = expect[None] + np.einsum("bk,knc->bnc", driving.expression_coeffs, model.expression_components)
    np.testing.assert_allclose(fused.vertices, expect, atol=1e-3)
    fixed = model.landmark_vertices >= 0
    np.testing.assert_allclose(fused.landmarks[:, fixed], project(driving, expect)[:, model.landmark_vertices[fixed]], atol=1e-3)


def test_own_identity_gives_back_the_driving_face(model, pair):
    _, driving = pair
    own = syn.landmarks(model, driving)
    for i in range(len(driving)):
        again = faceflt.fuse(model, driving.shape_coeffs[i], driving, guides=np.repeat(own[i : i + 1], len(driving), 0))
        np.testing.assert_allclose(again.landmarks[i], own[i], atol=1e-3)


def test_jaw_follows_the_silhouette_when_the_head_turns(model):
    """At 40 deg yaw, each jaw point of the side turned away sits on the outline of the posed face, not on
    a fixed vertex that slid behind the cheek."""
    driving = syn.truth(model, np.zeros((1, 63)), np.zeros((1, 6)), [[40.0, 0.0, 0.0]])
    mesh = faceflt.fuse(model, np.zeros(63, np.float32), driving, return_mesh=True).vertices
    pts2d = project(driving, mesh)[0]
    far_side = list(range(9, 17))  # positive yaw hides the image's left contour (iBUG 10-17)
    fixed_contour = faceflt.fuse(model, np.zeros(63, np.float32), driving).landmarks[0]  # guides: none
    # A detector puts the far jaw on the outline: at each landmark's row, the outermost mesh point.
    guides = fixed_contour.copy()
    for lm in far_side:
        row = np.abs(pts2d[:, 1] - fixed_contour[lm, 1]) < 4
        guides[lm] = pts2d[row][np.argmax(pts2d[row, 0])]
    flt = faceflt.fuse(model, np.zeros(63, np.float32), driving, guides=guides[None]).landmarks[0]
    # Each lands on the outline point the detector gave (the nearest visible silhouette vertex) ...
    np.testing.assert_array_less(np.linalg.norm(flt[far_side] - guides[far_side], axis=1), 4.0)
    # ... which, above the chin (iBUG 13-17 run up to the ear), is the outermost point of the face at that height.
    for lm in far_side[3:]:
        row = np.abs(pts2d[:, 1] - flt[lm, 1]) < 4
        assert pts2d[row, 0].max() - flt[lm, 0] < 4.0, lm
    # while the model's fixed contour vertices sit well inside it for most of that side
    inside = [pts2d[np.abs(pts2d[:, 1] - fixed_contour[lm, 1]) < 4, 0].max() - fixed_contour[lm, 0] for lm in far_side]
    assert np.median(inside) > 10, inside


def test_different_identity_changes_the_face_shape(model, pair):
    reference_shape, driving = pair
    wide = faceflt.fuse(model, reference_shape, driving).landmarks
    own = syn.landmarks(model, driving)
    assert np.abs(wide - own).max() > 5  # the face changed
    # but the expression-driven mouth opening is shared: same sign of change across frames
    mouth_open = lambda l: np.linalg.norm(l[:, 66] - l[:, 62], axis=1)
    assert np.corrcoef(mouth_open(wide), mouth_open(own))[0, 1] > 0.9


def test_failed_driving_frames_give_nan(model, pair):
    reference_shape, driving = pair
    lms = syn.landmarks(model, driving)
    lms[2] = np.nan
    fits = faceflt.fit(model, lms, (512, 512), on_failure="nan")
    fused = faceflt.fuse(model, reference_shape, fits, guides=lms)
    assert np.isnan(fused.landmarks[2]).all()
    assert np.isfinite(fused.landmarks[[0, 1, 3, 4, 5]]).all()
    with pytest.raises(ValueError, match=r"fuse\(\): reference_shape must have shape \(63,\)"):
        faceflt.fuse(model, np.zeros(5), fits)


def test_offsets_project_as_the_camera_moves_points():
    """project_offsets is the linear part of the camera: the same as projecting moved points (numpy oracle)."""
    from faceflt import _core

    rng = np.random.default_rng(4)
    offsets = rng.normal(0, 2, (68, 3)).astype(np.float32)
    rotations = _core.rotations_from_yaw_pitch_roll(np.array([[-30, 5, 0], [0, -10, 3], [25, 8, -4], [10, 0, 0]], np.float32))
    scales = np.array([2.0, 1.5, 2.5, 1.0], np.float32)
    translations = np.array([[1, 2], [0, 0], [-3, 1], [np.nan, 0]], np.float32)  # the last frame has no camera
    cameras = _core.CameraBatch(np.zeros((4, 6), np.float32), rotations, scales, translations, np.full((4, 2), 512, np.int32))
    assert len(cameras) == 4 and cameras.ok.tolist() == [True, True, True, False]
    assert repr(cameras) == "<faceflt core CameraBatch: 4 frames, 3 with a camera, 6 expression coefficients>"
    seen = _core.project_offsets(offsets, cameras)
    # independent check of the projection: d(u, v) = s (r1 . d, -(r2 . d)) in the y-down image
    for i in range(3):
        np.testing.assert_allclose(seen[i], scales[i] * np.c_[offsets @ rotations[i, 0], -(offsets @ rotations[i, 1])], atol=1e-4)
    assert np.isnan(seen[3]).all()
    with pytest.raises(ValueError, match=r"CameraBatch\(\): rotation must have shape \(4, 3, 3\), got \(3, 3, 3\)"):
        _core.CameraBatch(np.zeros((4, 6), np.float32), rotations[:3], scales, translations, np.full((4, 2), 512, np.int32))


def test_lifted_landmarks_project_back_and_recover_the_face(model):
    """lift() puts each detected point on its camera ray at the fitted face's depth: projected again it is
    the detected point; lifted from the exact fit it is the face's own vertex (numpy oracle of the camera),
    and without the fitted expression's displacement, the neutral face's vertex."""
    rng = np.random.default_rng(5)
    shape, expression, ypr = syn.sample(rng, model, 4)
    truth = syn.truth(model, shape[:1].repeat(4, 0), expression, ypr)
    lms = syn.landmarks(model, truth)
    ids = faceflt.fuse(model, shape[0], truth, guides=lms).vertex_ids
    result = faceflt.lift(model, shape[0], truth, lms)
    lifted = result.points
    assert lifted.shape == (4, 68, 3) and lifted.dtype == np.float32
    np.testing.assert_allclose(project(truth, lifted), lms, atol=1e-2)
    from faceflt import _core

    meshes = _core.build_meshes(model, truth.shape_coeffs, truth.expression_coeffs)
    np.testing.assert_allclose(lifted, np.take_along_axis(meshes, ids[..., None].astype(np.int64), 1), atol=1e-2)
    neutral = result.neutral
    plain = _core.build_meshes(model, truth.shape_coeffs, np.zeros_like(truth.expression_coeffs))
    np.testing.assert_allclose(neutral, np.take_along_axis(plain, ids[..., None].astype(np.int64), 1), atol=1e-2)
    # a missing point stays missing; other points are unaffected
    holed = lms.copy()
    holed[1, 30] = np.nan
    again = faceflt.lift(model, shape[0], truth, holed).points
    assert np.isnan(again[1, 30]).all() and np.isfinite(np.delete(again[1], 30, 0)).all()
