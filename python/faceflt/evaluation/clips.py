"""One-person clips for the identity protocol: each video's 68 landmarks per frame, detected once and cached.

The detection run is the protocol's independent measurement of every person (the reference's own frames,
the driver's frames): it runs the pipeline's tracker with a detector plugin (dlib by default) and keeps
only the landmarks, in ``<cache>/<video stem>.<detector>.npz``, so that a report can be re-made without
decoding the videos again.

Each video shows one person. Two videos may show the same person (a dataset's several clips of one
speaker, or one person in two projects' example videos): a manifest names the person after ``=``, and the
protocol never pairs such videos with each other, since a driver who already is the reference person has
no identity to transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..driving import detect_driving
from ..errors import InputError
from ..io import VIDEO_SUFFIXES, open_frames
from ..plugins import available_detectors, make_detector

__all__ = ["Clip", "Video", "detect_clip", "find_clips", "frame_at"]


@dataclass(frozen=True)
class Clip:
    """One person's video, measured."""

    name: str
    path: Path
    landmarks: np.ndarray
    """float32 (T, 68, 2): pixels; NaN where the detector found no face."""
    confidences: np.ndarray
    """float32 (T, 68)."""
    size: tuple[int, int]
    """(width, height) pixels."""
    fps: float
    person: str = ""
    """Who the video shows, where a manifest names them ('': a person of their own)."""
    head_pose: np.ndarray | None = None
    """float64 (T, 3) degrees (yaw, pitch, roll), measured without faceflt's model (``head_pose.with_head_poses``);
    NaN where not found; None: not measured."""

    @property
    def who(self) -> str:
        """The person: ``person``, or else the clip's name."""
        return self.person or self.name


@dataclass(frozen=True)
class Video:
    """One video of a population, and who it shows ('': a person of their own)."""

    path: Path
    person: str = ""


def find_clips(people: Path) -> list[Video]:
    """The videos of a folder (one person each), or of a manifest: a text file with one video path per line,
    relative to the manifest, '#' starting a comment, and optionally ``= name`` after the path to name the
    person (videos with one name show one person: ``clips/aoc_1.mp4 = aoc``)."""
    people = Path(people)
    if people.is_dir():
        videos = [Video(p) for p in sorted(p for p in people.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)]
    elif people.is_file():
        try:
            lines = [line.split("#")[0].strip() for line in people.read_text(encoding="utf-8-sig").splitlines()]
        except UnicodeDecodeError:
            raise InputError(f"{people}: not a text file; --people takes a folder of videos or a text file listing "
                             "them") from None
        videos = []
        for line in filter(None, lines):
            # a path may hold '=' itself (runs/a=b.mp4): a line naming an existing file is a path
            path, named, who = line.rpartition("=") if "=" in line and not (people.parent / line).is_file() else (line, "", "")
            if named and not (path.strip() and who.strip()):
                raise InputError(f"{people}: {line!r}: write a video's person as 'path = name'")
            videos.append(Video(people.parent / path.strip(), who.strip()))
        missing = [str(v.path) for v in videos if not v.path.exists()]
        if missing:
            raise InputError(f"{people}: the manifest names videos that do not exist: {', '.join(missing)}")
    else:
        raise InputError(f"{people}: no such folder or manifest")
    if not videos:
        raise InputError(f"{people}: no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
    # a clip is known by its file name (its landmark cache, the report's rows): two of one name would be mixed up
    names = [v.path.stem for v in videos]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{people}: several videos are named {', '.join(twice)}; give each video its own file name")
    return videos


def detect_clip(path: Path, detector: str = "dlib", cache: Path | None = None, redetect_interval: int = 30,
                person: str = "") -> Clip:
    """Every frame's landmarks of a one-person video (cached in ``cache`` when given); ``person``: who it shows
    ('': a person of their own)."""
    path = Path(path)
    cached = None if cache is None else Path(cache) / f"{path.stem}.{detector}.npz"
    if cached is not None and cached.exists():
        with np.load(cached) as z:
            return Clip(path.stem, path, z["landmarks"], z["confidences"], (int(z["size"][0]), int(z["size"][1])), float(z["fps"]),
                        person)
    source = open_frames(path)
    found = detect_driving(source, make_detector(detector), redetect_interval, spec=available_detectors()[detector])
    clip = Clip(path.stem, path, found.landmarks, found.confidences, (source.width, source.height), source.rate, person)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".partial.npz")
        np.savez(tmp, landmarks=clip.landmarks, confidences=clip.confidences, size=np.asarray(clip.size), fps=clip.fps)
        tmp.replace(cached)
    return clip


def frame_at(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a video, RGB uint8 (H, W, 3)."""
    for i, frame in open_frames(path):
        if i == index:
            return frame
    raise InputError(f"{path}: has no frame {index}")
