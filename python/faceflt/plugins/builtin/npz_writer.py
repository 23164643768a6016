"""Every array of every frame in one .npz, for users' own tools. Frames are appended to per-field
temporary .npy files as they come (memory stays flat) and packed into the .npz on close."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from ..hookspecs import hookimpl
from ..types import PoseFrame, WriterSpec

_FIELDS = {"face": (68, 2), "face_scores": (68,), "body": (18, 2), "body_scores": (18,), "hands": (2, 21, 2), "hand_scores": (2, 21)}


@dataclass(frozen=True)
class NpzOptions:
    pass


class NpzWriter:
    def __init__(self, path: Path, options: NpzOptions) -> None:
        self._path = path if path.suffix == ".npz" else path.with_suffix(".npz")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=f".{self._path.name}.", dir=self._path.parent))
        self._files = {name: open(self._dir / f"{name}.raw", "wb") for name in _FIELDS}
        self._count, self._size = 0, None

    def write(self, frame: PoseFrame) -> None:
        for name, shape in _FIELDS.items():
            value = getattr(frame, name)
            arr = np.full(shape, np.nan if "scores" not in name else 0.0, np.float32) if value is None else np.asarray(value, np.float32)
            self._files[name].write(np.ascontiguousarray(arr.reshape(shape)).tobytes())
        self._size = frame.image_size
        self._count += 1

    def close(self) -> None:
        if self._files is None:
            return
        for f in self._files.values():
            f.close()
        tmp = self._path.with_name(f".{self._path.name}.partial")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, shape in _FIELDS.items():
                with z.open(f"{name}.npy", "w", force_zip64=True) as out:
                    npy_format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": (self._count, *shape)})
                    with open(self._dir / f"{name}.raw", "rb") as raw:
                        shutil.copyfileobj(raw, out)
            with z.open("image_size.npy", "w") as out:
                np.lib.format.write_array(out, np.asarray(self._size or (0, 0), np.int32))
        os.replace(tmp, self._path)
        shutil.rmtree(self._dir, ignore_errors=True)
        self._files = None


@hookimpl
def faceflt_register_writers() -> list[WriterSpec]:
    return [WriterSpec(name="npz", options=NpzOptions, factory=NpzWriter, target=lambda c: "keypoints.npz",
                       description="all keypoints and scores of all frames in one .npz (face, body, hands)")]
