"""Render speed: ms per frame at 512x512 for the EGL and CPU backends, one batch of frames through
one context (texture and triangles uploaded once), read-back included.

    python benchmarks/bench_render.py [--frames 100] [--size 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import faceflt  # noqa: E402
from faceflt.errors import RenderBackendError  # noqa: E402

import synthetic as syn  # noqa: E402
from conftest import MODEL_DIR  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    model = faceflt.load_model(MODEL_DIR)
    rng = np.random.default_rng(0)
    shape, expression, ypr = syn.sample(rng, model, args.frames, max_yaw=40)
    size = (args.size, args.size)
    cams = syn.truth(model, shape, expression, ypr, scale=args.size / 300, size=size)
    meshes = faceflt.fuse(model, shape[0], cams, return_mesh=True).vertices
    texture = rng.integers(0, 256, size=(args.size, args.size, 3), dtype=np.uint8)
    uv = rng.uniform(0, 1, size=(model.num_vertices, 2)).astype(np.float32)

    print(f"{args.frames} frames of the {model.num_vertices}-vertex, {len(model.triangles)}-triangle mesh at {size[0]}x{size[1]}, "
          "textured, read back to numpy")
    print(f"{'backend':66s}{'ms/frame':>10s}")
    for backend, samples in (("egl", 1), ("egl", 4), ("cpu", 1), ("cpu", 4)):
        try:
            r = faceflt.Renderer(model, size, backend=backend, samples=samples)
        except RenderBackendError as e:
            print(f"{backend:66s}{'n/a':>10s}  ({e})")
            continue
        r.set_texture(texture, uv, np.ones(model.num_vertices))
        r.render(meshes[0], cams)  # warm up (first GL draw compiles llvmpipe's shaders)
        t = time.perf_counter()
        r.render_batch(meshes, cams)
        ms = 1e3 * (time.perf_counter() - t) / args.frames
        print(f"{r.backend + f', samples={samples}':66s}{ms:10.2f}")


if __name__ == "__main__":
    main()
