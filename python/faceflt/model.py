"""Finding, downloading and loading the Surrey Face Model (eos's files).

The model is never shipped in the wheel: it is free for non-commercial use only. It is looked up,
in order, in an explicit directory, in ``$FACEFLT_MODEL_DIR``, then in the per-user cache that
``faceflt model download`` fills from the eos repository at a pinned revision, checking sha256.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import _core
from .downloads import cache_root, default_progress, download_files
from .errors import ModelNotFoundError
from .model_files import read_edge_topology, read_landmark_mapping, read_model_contour

__all__ = [
    "EOS_REVISION",
    "MODEL_FILES",
    "FaceModel",
    "cache_dir",
    "download_model",
    "find_model_dir",
    "load_model",
]

#: The compiled model type returned by :func:`load_model`.
FaceModel = _core.FaceModel

#: eos release whose ``share/`` folder the download takes the files from.
EOS_REVISION = "v1.5.0"
DEFAULT_URL = f"https://raw.githubusercontent.com/patrikhuber/eos/{EOS_REVISION}/share/"


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    role: str


#: The files faceflt reads, with the sha256 of eos's copies.
MODEL_FILES: tuple[ModelFile, ...] = (
    ModelFile("sfm_shape_3448.bin", "43750338ae533e7fb981e924b6f67ebde3d292f15ec4fc886ae5af14308ad980", "shape_model"),
    ModelFile("expression_blendshapes_3448.bin", "a77c81712fc5e8b08a1be4cd2824d51514e5bde6578109ae5240dfb3489efd43", "expression"),
    ModelFile("ibug_to_sfm.txt", "810810c457184526c7d54305ecbc5da764e2431b5e66025d921a7d424aebfac9", "landmark_mapping"),
    ModelFile("sfm_model_contours.json", "c9e69bfa995ab19ac6b27abb07729eb0520a00bb192be12426ca6bce76f3fded", "model_contour"),
    ModelFile("sfm_3448_edge_topology.json", "5934e5ec34dd6779fda06d28a1f8d02ca9a238bff882e5ccd6da5af9fffe61d5", "edge_topology"),
)

ENV_VAR = "FACEFLT_MODEL_DIR"


def cache_dir() -> Path:
    """The per-user model cache: ``$XDG_CACHE_HOME/faceflt/sfm`` (``~/.cache/faceflt/sfm``)."""
    return cache_root() / "sfm"


def _missing(directory: Path) -> list[str]:
    return [f.name for f in MODEL_FILES if not (directory / f.name).is_file()]


def find_model_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The model directory: ``path`` if given, else ``$FACEFLT_MODEL_DIR``, else the user cache.

    Raises:
        ModelNotFoundError: the chosen directory lacks model files; the message says how to get them.
    """
    if path is not None:
        candidates = [(Path(path), "the directory given")]
    elif os.environ.get(ENV_VAR):
        candidates = [(Path(os.environ[ENV_VAR]), f"${ENV_VAR}")]
    else:
        candidates = [(cache_dir(), "the user cache")]
    directory, origin = candidates[0]
    missing = _missing(directory)
    if missing:
        raise ModelNotFoundError(
            f"{origin} ({directory}) lacks the model files {', '.join(missing)}. "
            f"Run `faceflt model download` to fetch them into {cache_dir()}, "
            f"or point ${ENV_VAR} (or load_model(path)) at a folder holding eos's share/ files."
        )
    return directory


def load_model(path: str | os.PathLike[str] | None = None) -> FaceModel:
    """Loads the Surrey Face Model with its blendshapes, landmark mapping, contours and edge topology.

    Args:
        path: folder holding the eos files (see ``MODEL_FILES``); ``None``: ``$FACEFLT_MODEL_DIR``,
            then the user cache.

    Raises:
        ModelNotFoundError: no folder with the files was found.
        ModelFormatError: a file is truncated, corrupted or of an unsupported version.
    """
    directory = find_model_dir(path)
    files = {f.role: directory / f.name for f in MODEL_FILES}
    mapping = read_landmark_mapping(files["landmark_mapping"])
    contour_right, contour_left = read_model_contour(files["model_contour"])
    adjacent_faces, adjacent_vertices = read_edge_topology(files["edge_topology"])
    return _core.load_face_model(
        **{role: str(p) for role, p in files.items()}, mapping_vertex=mapping.vertex, right_contour_landmarks=mapping.right_contour,
        left_contour_landmarks=mapping.left_contour, contour_right=contour_right, contour_left=contour_left,
        adjacent_faces=adjacent_faces, adjacent_vertices=adjacent_vertices)


def download_model(
    dest: str | os.PathLike[str] | None = None,
    base_url: str = DEFAULT_URL,
    force: bool = False,
    progress: Callable[[str, int, int | None], None] | None = default_progress,
) -> Path:
    """Downloads the model files into ``dest`` (default: the user cache), checking each against its pinned sha256.

    ``base_url`` may be any URL urllib opens, including ``file:///path/to/mirror/``, or a plain folder, so a local
    mirror works offline. Files already present with the right checksum are kept. A file is written
    under a temporary name and moved into place only once its checksum matches, so an interrupted or
    corrupted download never leaves a bad file behind (:mod:`faceflt.downloads`).

    Raises:
        DownloadError: a file could not be fetched or did not match its pinned sha256.
    """
    return download_files(Path(dest) if dest is not None else cache_dir(), base_url, {f.name: f.sha256 for f in MODEL_FILES},
                          force, progress, hint=f", or point {ENV_VAR} at a folder that holds them")
