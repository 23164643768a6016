"""The README's Python blocks run as written (on ../shared files in place of A.jpg and B.mp4), so they stay true."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from conftest import IMAGES, SHARED, require

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv("FACEFLT_MODEL_DIR", str(model_dir))
    monkeypatch.chdir(tmp_path)
    picture = require(IMAGES / "hallo_6.jpg", "hallo_6.jpg")
    video = require(SHARED / "data" / "videos" / "tpsmm_driving.mp4", "tpsmm_driving.mp4")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no Python block"
    namespace: dict = {}
    for block in blocks:
        code = block.replace('"A.jpg"', repr(str(picture))).replace('"B.mp4"', repr(str(video))).replace('"out/"', repr(str(tmp_path / "out")))
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["result"].landmarks.shape == (169, 68, 2)
    assert namespace["flt"].shape == (60, 68, 2) and np.isfinite(namespace["flt"]).all()
    # the building blocks are what transform does: the same landmarks on the frames both saw alike
    same = np.nanmedian(np.linalg.norm(namespace["flt"] - namespace["result"].landmarks[:60], axis=-1))
    assert same < 3.0, same
    assert namespace["renders"].shape == (60, 412, 410, 4)
