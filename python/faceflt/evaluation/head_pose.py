"""Head pose per frame, measured without faceflt's face model: what the identity protocol compares faces at.

Identity features read off 2D landmarks change with the head's pitch: on the developer and held-out people the jaw
widths by 0.5 to 1.2 between-person spreads per 10 degrees (the nose, lip and eye widths by about 0.1), and two
videos are often filmed 5 to 10 degrees apart. So the protocol also compares the output at each
driving frame with the reference person's own frames *at that frame's head pose* (``transfer``), and the pose must
come from something other than the method's own model and fit.

It comes from MediaPipe's face mesh (its own network: 468 points in 3D; in faceflt's default install, with the
holistic detector), which follows the face through each video. Each frame's upper-face points (above the nose tip:
forehead, brows, eyes and nose, which expression moves least) are aligned rigidly with the population's mean face
(generalised Procrustes over frames of every video, measured in the same run, so that every person is read against
the same face), whose head axes come from its own points: x from the right to the left eye, mouth and face corners,
y from the top of the forehead to the chin, made square to x. A face unlike the mean one reads a little off in pitch
(its zero is where its upper face best matches the mean's), the same in every frame of that person.

Checked on the 25 real people of docs/identity.md: yaw follows the protocol's 2D turn (dlib's points) with a
correlation of 0.73 to 0.99 within each video (0.34 in one whose head hardly turns); the Surrey fit's pitch follows
this pitch frame to frame (median correlation 0.90, median slope 1.00 over 41 videos: the real people's and 15
generated faces') and across their pictures (correlation 0.89).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io import open_frames
from ..progress import Progress
from .clips import Clip

__all__ = ["detect_mesh", "head_poses", "mean_face", "pose_against", "with_head_poses"]

_PAIRS = ((33, 263), (133, 362), (61, 291), (234, 454))
"""Mesh points facing each other across the face (right, left in the image of a frontal face): outer and inner eye
corners, mouth corners, the face's sides."""
_TOP, _CHIN, _NOSE_TIP = 10, 152, 1
_SAMPLE = 20
"""Frames of each video that the mean face is made of."""


def detect_mesh(path: Path, cache: Path | None = None) -> np.ndarray:
    """MediaPipe's face mesh on every frame of a one-person video: float32 (T, 468, 3), pixels (x, y, and depth in
    the width's units, as MediaPipe gives it); NaN where no face was found. Cached as ``<cache>/<stem>.mesh.npz``."""
    path = Path(path)
    cached = None if cache is None else Path(cache) / f"{path.stem}.mesh.npz"
    if cached is not None and cached.exists():
        with np.load(cached) as z:
            return z["mesh"]
    from ..plugins.builtin.holistic_detector import _import_mediapipe, _quiet

    _, face_mesh = _import_mediapipe()
    source = open_frames(path)
    rows = []
    with _quiet(), face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False,
                                             min_detection_confidence=0.5, min_tracking_confidence=0.5) as mesh:
        for _, frame in source:
            h, w = frame.shape[:2]
            found = mesh.process(np.ascontiguousarray(frame)).multi_face_landmarks
            if found:
                rows.append(np.array([(p.x * w, p.y * h, p.z * w) for p in found[0].landmark[:468]], np.float32))
            else:
                rows.append(np.full((468, 3), np.nan, np.float32))
    if not rows:
        raise InputError(f"{path}: no frames")
    out = np.stack(rows)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + ".partial.npz")
        np.savez_compressed(tmp, mesh=out)
        os.replace(tmp, cached)
    return out


def _centred(points: np.ndarray) -> np.ndarray:
    points = points - points.mean(0)
    return points / np.sqrt((points ** 2).sum(1).mean())


def _rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The rotation R (..., 3, 3) that best takes the rows of src onto those of dst (dst ~ src @ R.T; Kabsch); src and
    dst (..., n, 3), several at once."""
    u, _, vt = np.linalg.svd(np.swapaxes(dst, -1, -2) @ src)
    flip = np.ones(u.shape[:-1])
    flip[..., -1] = np.sign(np.linalg.det(u @ vt))
    return (u * flip[..., None, :]) @ vt


def mean_face(meshes: Sequence[np.ndarray], seed: int = 0) -> np.ndarray:
    """The population's mean face (468, 3), unit size, in its head axes (x to the face's left in the image, y down
    to the chin, z away from the camera): generalised Procrustes over _SAMPLE frames of each video."""
    rng = np.random.default_rng(seed)
    frames = []
    for mesh in meshes:
        found = np.flatnonzero(np.isfinite(mesh).all((1, 2)))
        frames += [_centred(mesh[i].astype(np.float64)) for i in rng.choice(found, min(_SAMPLE, len(found)), replace=False)]
    if not frames:
        raise ValueError("no video has a face that MediaPipe's face mesh found")
    face = frames[0]
    for _ in range(6):
        face = _centred(np.mean([f @ _rotation(f, face).T for f in frames], 0))
    x = sum(face[b] - face[a] for a, b in _PAIRS)
    x /= np.linalg.norm(x)
    y = face[_CHIN] - face[_TOP]
    y -= (y @ x) * x
    y /= np.linalg.norm(y)
    return face @ np.stack([x, y, np.cross(x, y)]).T


def pose_against(mesh: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Each frame's head pose against the mean face: float64 (T, 3) degrees, (yaw, pitch, roll); NaN where no face.
    Yaw > 0: the nose points to the image's right; pitch > 0: the face looks up; roll > 0: the eye line turns
    clockwise in the image."""
    upper = face[:, 1] < face[_NOSE_TIP, 1]
    ref = face[upper] - face[upper].mean(0)
    out = np.full((len(mesh), 3), np.nan)
    found = np.flatnonzero(np.isfinite(mesh).all((1, 2)))
    seen = mesh[found][:, upper].astype(np.float64)
    r = _rotation(ref, seen - seen.mean(1, keepdims=True))  # head axes -> image axes, each frame
    forward = -r[:, :, 2]  # towards the camera
    out[found] = np.degrees(np.stack([np.arctan2(forward[:, 0], -forward[:, 2]),
                                      np.arctan2(-forward[:, 1], np.hypot(forward[:, 0], forward[:, 2])),
                                      np.arctan2(r[:, 1, 0], r[:, 0, 0])], 1))
    return out


def head_poses(meshes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """name -> (T, 3) head pose of each video's frames (``pose_against`` the population's ``mean_face``)."""
    face = mean_face(list(meshes.values()))
    return {name: pose_against(mesh, face) for name, mesh in meshes.items()}


def with_head_poses(clips: Sequence[Clip], cache: Path | None = None, progress: bool = True) -> list[Clip]:
    """The clips with their head poses (``Clip.head_pose``), the meshes cached in ``cache``."""
    bar = Progress("measuring head poses", len(clips), progress, unit="videos")
    meshes = {}
    for clip in clips:
        mesh = detect_mesh(clip.path, cache)
        if len(mesh) != len(clip.landmarks):
            raise InputError(f"{clip.path}: the face mesh saw {len(mesh)} frames and the landmark detector {len(clip.landmarks)}; "
                             "remove the cached files and measure again")
        meshes[clip.name] = mesh
        bar.step()
    bar.close()
    poses = head_poses(meshes)
    return [replace(clip, head_pose=poses[clip.name]) for clip in clips]
