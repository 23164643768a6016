"""The renderer: EGL (Mesa llvmpipe here, a GPU elsewhere) against the CPU rasterizer, the
reference re-rendered under its own camera, pixel conventions, backgrounds and backend errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import faceflt
from faceflt.errors import RenderBackendError

import synthetic as syn
from conftest import IMAGES, read_pts, require

SIZE = (320, 256)


def egl_or_skip(model, **kw):
    try:
        return faceflt.Renderer(model, kw.pop("size", SIZE), backend="egl", **kw)
    except RenderBackendError as e:
        if os.environ.get("FACEFLT_REQUIRE_EGL") == "1":
            pytest.fail(f"EGL is required here (FACEFLT_REQUIRE_EGL=1): {e}")
        pytest.skip(f"no EGL on this machine: {e}")


@pytest.fixture()
def renderers(model):
    """Both backends; after the test, neither may hold an unreported GL error."""
    made = {"cpu": faceflt.Renderer(model, SIZE, backend="cpu"), "egl": egl_or_skip(model)}
    yield made
    for r in made.values():
        r.check()


@pytest.fixture(scope="module")
def scene(model):
    """A posed synthetic face and a noise texture mapped by a second camera."""
    rng = np.random.default_rng(5)
    shape, expression, _ = syn.sample(rng, model, 3)
    poses = [[30.0, 5.0, -8.0], [-20.0, -10.0, 4.0], [0.0, 0.0, 0.0]]
    cams = syn.truth(model, shape, expression, poses, scale=1.1, size=SIZE)
    meshes = faceflt.fuse(model, shape[0], cams, return_mesh=True).vertices
    texture = rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8)
    uv = np.stack([np.linspace(0.05, 0.95, model.num_vertices), rng.uniform(0.05, 0.95, model.num_vertices)], 1)
    return meshes, cams, texture, uv.astype(np.float32)


def test_egl_and_cpu_agree(renderers, scene):
    meshes, cams, texture, uv = scene
    out = {}
    for name, r in renderers.items():
        r.set_texture(texture, uv, np.ones(len(uv)))
        out[name] = r.render_batch(meshes, cams, return_depth=True)
    cpu, egl = out["cpu"], out["egl"]
    for i in range(len(meshes)):
        a, b = cpu.coverage[i], egl.coverage[i]
        assert (a & b).sum() / (a | b).sum() >= 0.99
        both = a & b
        diff = np.abs(cpu.rgba[i].astype(int) - egl.rgba[i])[both]
        assert diff.mean() < 1.0, diff.mean()  # 8-bit levels; GL filters with 8-bit weights
        # Depth in mm, GL's kept in 24 bits; pixels on a shared edge may take either triangle.
        assert np.mean(np.abs(cpu.depth[i][both] - egl.depth[i][both]) < 0.5) > 0.999


def test_msaa_smooths_edges_and_keeps_coverage(model, scene):
    meshes, cams, texture, uv = scene
    for backend in ("cpu", "egl"):
        plain = (faceflt.Renderer(model, SIZE, backend="cpu") if backend == "cpu" else egl_or_skip(model))
        smooth = (faceflt.Renderer(model, SIZE, backend="cpu", samples=4) if backend == "cpu" else egl_or_skip(model, samples=4))
        for r in (plain, smooth):
            r.set_texture(texture, uv, np.ones(len(uv)))
        a = plain.render(meshes[0], cams, 0, background="transparent").rgba[0, ..., 3]
        b = smooth.render(meshes[0], cams, 0, background="transparent").rgba[0, ..., 3]
        assert set(np.unique(a)) <= {0, 255}
        partial = ((b > 0) & (b < 255)).sum()
        assert partial > 100, partial  # the silhouette is antialiased
        assert abs(int((b > 127).sum()) - int((a > 0).sum())) < 0.02 * (a > 0).sum()
        smooth.check()


def test_a_known_vertex_lands_where_the_camera_says(renderers, scene, model):
    meshes, cams, texture, uv = scene
    # Project the nose tip and chin with the camera formula, written here independently.
    for v in (114, 33):
        for name, r in renderers.items():
            r.set_texture(texture, uv, np.ones(len(uv)))
            res = r.render_batch(meshes, cams, return_depth=True)
            for i in range(len(meshes)):
                x = cams.scale[i] * (cams.rotation[i, 0] @ meshes[i, v] + cams.translation[i, 0])
                y = SIZE[1] - cams.scale[i] * (cams.rotation[i, 1] @ meshes[i, v] + cams.translation[i, 1])
                z = cams.rotation[i, 2] @ meshes[i, v]
                assert res.depth[i, int(y), int(x)] == pytest.approx(z, abs=1.5), (name, v, i)


def test_backgrounds(renderers, scene):
    meshes, cams, texture, uv = scene
    frames = np.random.default_rng(0).integers(0, 256, size=(len(meshes), SIZE[1], SIZE[0], 3), dtype=np.uint8)
    for r in renderers.values():
        weight = (meshes[0, :, 0] > 0).astype(np.float32)  # the texture of one half of the face is invalid
        r.set_texture(texture, uv, weight)
        black = r.render_batch(meshes, cams, return_depth=True)
        outside = ~black.coverage
        assert (black.rgba[outside][:, :3] == 0).all() and (black.rgba[..., 3] == 255).all()
        clear = r.render_batch(meshes, cams, background="transparent").rgba
        assert (clear[outside][:, 3] == 0).all() and (clear[..., 3] == 0).any() and (clear[..., 3] == 255).any()
        over = r.render_batch(meshes, cams, background=frames).rgba
        np.testing.assert_array_equal(over[outside][:, :3], frames[outside])
        # where the face is opaque it covers the frame; where it is transparent the frame shows
        opaque = clear[..., 3] == 255
        np.testing.assert_array_equal(over[opaque][:, :3], clear[opaque][:, :3])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def test_reference_rerendered_under_its_own_camera_is_the_picture(model):
    """The render samples the reference at each vertex's own projection, so under the reference camera
    it is the identity map: each pixel centre samples its own texel centre. We require PSNR >= 35 dB
    inside the face, and >= 8 dB better than the picture shifted by half a pixel (what a texel-centre
    or y-flip slip gives, about 30 dB on this face). Both backends in fact give the picture back exactly
    here; 35 dB leaves room for a GPU's own filtering precision and for sliver triangles seen edge-on."""
    from PIL import Image

    pts_path = require(IMAGES / "image_0010.pts", "image_0010")
    image = np.asarray(Image.open(IMAGES / "image_0010.png").convert("RGB"))
    height, width = image.shape[:2]
    fit = faceflt.fit(model, read_pts(pts_path), (width, height), return_mesh=True)
    for backend in ("cpu", "egl"):
        r = faceflt.Renderer(model, (width, height), backend="cpu") if backend == "cpu" else egl_or_skip(model, size=(width, height))
        r.set_reference(image, fit)
        res = r.render(fit.vertices[0], fit, background="transparent", return_depth=True)
        face = res.coverage[0] & (res.rgba[0, ..., 3] == 255)
        assert face.sum() > 50_000
        shifted = (image[:-1, :-1].astype(float) + image[1:, 1:]) / 2
        got, half = psnr(res.rgba[0, ..., :3][face], image[face]), psnr(shifted[face[:-1, :-1]], image[:-1, :-1][face[:-1, :-1]])
        assert got >= 35 and got >= half + 8, (backend, got, half)
        r.check()


def _hidden_by_brute_force(points, depth, triangles, tolerance=1.0):
    """Each vertex against every triangle (eos's ray cast): hidden when a triangle that does not have
    it as a corner covers it with depth in front by more than `tolerance`. Also says, per vertex,
    whether a triangle's edge or depth lies too close to call in float32 (left out of the comparison)."""
    a, b, c = (points[triangles[:, k]].astype(np.float64) for k in range(3))
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    keep = area != 0
    a, b, c, area, tris = a[keep], b[keep], c[keep], area[keep], triangles[keep]
    d = depth[tris].astype(np.float64)
    hidden = np.zeros(len(points), bool)
    close = np.zeros(len(points), bool)
    for chunk in np.array_split(np.arange(len(points)), 64):
        x, y = points[chunk, :1].astype(np.float64), points[chunk, 1:].astype(np.float64)
        w0 = ((b[:, 0] - x) * (c[:, 1] - y) - (b[:, 1] - y) * (c[:, 0] - x)) / area
        w1 = ((c[:, 0] - x) * (a[:, 1] - y) - (c[:, 1] - y) * (a[:, 0] - x)) / area
        w2 = 1 - w0 - w1
        corner = (tris[None, :, :] == chunk[:, None, None]).any(-1)
        wmin = np.minimum(np.minimum(w0, w1), w2)
        front = w0 * d[:, 0] + w1 * d[:, 1] + w2 * d[:, 2] - (depth[chunk, None] + tolerance)
        hidden[chunk] = ((wmin >= 0) & (front > 0) & ~corner).any(1)
        close[chunk] = ((np.abs(wmin) < 1e-4) & (front > -1e-3) & ~corner).any(1) | ((wmin >= -1e-4) & (np.abs(front) < 1e-3) & ~corner).any(1)
    return hidden, close


@pytest.mark.parametrize("ypr", [(0.0, 0.0, 0.0), (45.0, -10.0, 5.0), (-70.0, 15.0, -10.0)])
def test_visibility_agrees_with_a_ray_cast_over_all_triangles(model, ypr):
    """The visibility behind the reference texture (and the fit's occluding edge) culls with a grid and
    with patches of the mesh; it must hide exactly the vertices a test against every triangle hides."""
    rng = np.random.default_rng(11)
    shape, expression, _ = syn.sample(rng, model, 1)
    fit = syn.truth(model, shape, expression, [ypr], scale=1.5, size=(512, 512))
    uv, visible = faceflt.render.reference_texture(model, fit)
    points = uv * np.float32(512)
    vertices = faceflt.fuse(model, shape[0], fit, return_mesh=True).vertices[0]
    depth = vertices @ fit.rotation[0][2]
    hidden, close = _hidden_by_brute_force(points, depth, np.asarray(model.triangles))
    inside = (points >= 0).all(1) & (points < 512).all(1)
    assert inside.all()
    if ypr[0] != 0.0:
        assert hidden.sum() > 200, hidden.sum()  # the far cheek and side of the head are hidden
    assert close.sum() < 20, close.sum()
    assert np.array_equal(visible[~close], ~hidden[~close]), np.flatnonzero(visible[~close] == hidden[~close])


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


PROBE = """
    import faceflt, numpy as np, warnings
    from faceflt import _core
    try:
        _core.make_egl_renderer(32, 32)
        print("made")
    except faceflt.errors.RenderBackendError as e:
        print("RenderBackendError:", e)
"""


def test_no_egl_vendor_gives_the_named_error_and_auto_falls_back():
    done = _python(PROBE, {"__EGL_VENDOR_LIBRARY_FILENAMES": "/nonexistent.json"})
    assert "RenderBackendError: eglGetPlatformDisplayEXT" in done.stdout, done.stdout + done.stderr
    fallback = """
        import warnings, faceflt
        from conftest import MODEL_DIR
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            r = faceflt.Renderer(faceflt.load_model(MODEL_DIR), (32, 32))
        print(r.backend, [w.category.__name__ for w in caught])
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(fallback)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "__EGL_VENDOR_LIBRARY_FILENAMES": "/nonexistent.json",
                               "PYTHONPATH": os.path.dirname(__file__)})
    assert done.stdout.strip() == "cpu ['RenderFallbackWarning']", done.stdout + done.stderr


def test_missing_libegl_gives_the_named_error():
    """libEGL hidden in a private mount namespace: import works, context creation says what is missing."""
    import ctypes.util

    lib = ctypes.util.find_library("EGL")
    unshare = shutil.which("unshare")
    target = None
    if lib and unshare:
        for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
            if os.path.exists(os.path.join(d, "libEGL.so.1")):
                target = os.path.realpath(os.path.join(d, "libEGL.so.1"))
                break
    if target is None:
        pytest.skip("no libEGL.so.1 to hide or no unshare here")
    script = f"mount --bind /dev/null {target} && exec {sys.executable} -c '{textwrap.dedent(PROBE)}'"
    done = subprocess.run([unshare, "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    if "Operation not permitted" in done.stderr or "cannot" in done.stderr and "unshare" in done.stderr:
        pytest.skip(f"user namespaces are not permitted here: {done.stderr.strip()}")
    assert "RenderBackendError: gladLoaderLoadEGL: could not load libEGL.so.1" in done.stdout, done.stdout + done.stderr


def test_device_index_is_checked():
    done = _python(PROBE, {"FACEFLT_EGL_DEVICE": "99"})
    if "made" not in done.stdout and "EGL device 99 requested" not in done.stdout and "RenderBackendError" in done.stdout:
        pytest.skip(f"no EGL on this machine: {done.stdout}")
    assert "EGL device 99 requested" in done.stdout and "found" in done.stdout, done.stdout + done.stderr
    done = _python(PROBE, {"FACEFLT_EGL_DEVICE": "first"})
    assert "FACEFLT_EGL_DEVICE must be a device index" in done.stdout, done.stdout
