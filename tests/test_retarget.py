"""Body proportion retargeting: limb lengths follow the reference, directions and the root follow
the driver, the face and hands move with what they hang on."""

from __future__ import annotations

import numpy as np

from faceflt.retarget import LIMBS, retarget


def skeleton(rng, scale=1.0):
    body = np.zeros((18, 2))
    body[1] = (256, 150)
    for parent, child in LIMBS:
        angle = rng.uniform(0, 2 * np.pi)
        body[child] = body[parent] + scale * rng.uniform(30, 80) * np.array([np.cos(angle), np.sin(angle)])
    return body


def test_limb_lengths_take_the_references_and_directions_stay():
    rng = np.random.default_rng(0)
    ref = skeleton(rng, 1.3)
    drv = np.stack([skeleton(np.random.default_rng(1)) + rng.normal(0, 0.5, (18, 2)) for _ in range(10)])
    new, _, _ = retarget(ref, drv)
    for parent, child in LIMBS:
        got = np.linalg.norm(new[:, child] - new[:, parent], axis=1)
        want = np.linalg.norm(ref[child] - ref[parent]) * np.linalg.norm(drv[:, child] - drv[:, parent], axis=1) / np.median(
            np.linalg.norm(drv[:, child] - drv[:, parent], axis=1))
        np.testing.assert_allclose(got, want, rtol=1e-4)
        d_new = (new[:, child] - new[:, parent]) / got[:, None]
        d_drv = (drv[:, child] - drv[:, parent]) / np.linalg.norm(drv[:, child] - drv[:, parent], axis=1)[:, None]
        np.testing.assert_allclose(d_new, d_drv, atol=1e-4)
    np.testing.assert_allclose(new[:, 1], drv[:, 1], atol=1e-4)


def test_same_proportions_change_nothing_and_face_hands_follow():
    rng = np.random.default_rng(2)
    body = skeleton(rng)
    drv = np.stack([body] * 4)
    faces = rng.uniform(0, 512, (4, 68, 2))
    hands = rng.uniform(0, 512, (4, 2, 21, 2))
    new, f, h = retarget(body, drv, faces, hands)
    np.testing.assert_allclose(new, drv, atol=1e-4)
    np.testing.assert_allclose(f, faces, atol=1e-3)
    bigger, f2, h2 = retarget(skeleton(np.random.default_rng(2), 2.0), drv, faces, hands)
    np.testing.assert_allclose(f2 - faces, np.broadcast_to((bigger[:, 0] - drv[:, 0])[:, None], faces.shape), atol=1e-3)
    np.testing.assert_allclose(h2[:, 1] - hands[:, 1], np.broadcast_to((bigger[:, 4] - drv[:, 4])[:, None], hands[:, 1].shape), atol=1e-3)


def test_missing_joints_stay_missing():
    rng = np.random.default_rng(3)
    drv = np.stack([skeleton(rng)] * 3)
    drv[:, 4] = np.nan  # the right wrist is never seen
    new, _, _ = retarget(skeleton(rng, 1.5), drv)
    assert np.isnan(new[:, 4]).all() and np.isfinite(new[:, [0, 2, 3, 5]]).all()
