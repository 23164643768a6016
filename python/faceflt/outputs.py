"""The job's outputs: every format's writer fed frame by frame, the debug video, and the output folder written
whole or not at all (a temporary folder beside it, moved into place at the end)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from .flt import Reference, fused_chunks
from .plugins import Detections, OutputContext, PoseFrame, available_writers, make_writer
from .progress import Progress

__all__ = ["check_not_a_file", "check_output", "debug_video", "frame_for", "is_output", "output_folder", "write_formats"]


def is_output(folder: Path) -> bool:
    """Whether ``folder`` holds a finished faceflt output: a landmarks.npz with faceflt's arrays (written last-but-one,
    in the temporary folder that becomes the output whole)."""
    import zipfile

    try:
        with zipfile.ZipFile(folder / "landmarks.npz") as npz:
            return {"landmarks.npy", "driving_landmarks.npy", "valid.npy"} <= set(npz.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def check_not_a_file(out: Path) -> None:
    """Refuses an output folder's name that a file (or a symbolic link) already has."""
    from .errors import InputError

    if out.is_symlink():
        raise InputError(f"{out}: a symbolic link; --out names a folder of its own, choose another")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: a file of that name exists; --out names a folder, choose another")


def check_output(out: Path, overwrite: bool, inputs: Sequence[str | Path] = ()) -> None:
    """Refuses, before any work, an output that exists (without ``overwrite``), lies under a file, or in a folder
    where nothing can be written. ``overwrite`` replaces only a folder that is empty or a faceflt output
    (``is_output``), and never the current folder, a folder above it, or an input or a folder holding one."""
    from .errors import InputError

    check_not_a_file(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out}: the output folder exists; choose another --out or pass --overwrite")
    if out.exists():
        here, target = Path.cwd().resolve(), out.resolve()
        if target == here or target in here.parents:
            raise InputError(f"{out}: --overwrite would replace the current folder (or one above it); name a folder of "
                             "its own with --out")
        for given in inputs:
            path = Path(given).resolve()
            if target == path or target in path.parents:
                raise InputError(f"{out}: --overwrite would delete an input ({given}); choose another --out")
        if any(out.iterdir()) and not is_output(out):
            raise InputError(f"{out}: the folder is not a faceflt output (it has no faceflt landmarks.npz), so --overwrite "
                             "will not replace it; choose another --out")
    for parent in (out.parent, *out.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{out}: {parent} is a file, not a folder; choose another --out")
            try:  # a folder is made and removed: permissions, a read-only mount, /proc or /sys, whoever runs it
                os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent))
            except OSError as e:
                raise InputError(f"{out}: cannot write in {parent} ({e.strerror}); choose another --out") from None
            break


@contextlib.contextmanager
def output_folder(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``out`` to write into; moved into place (replacing ``out``, as ``check_output`` allows:
    checked again, since the folder may have been made while the job ran) when the block ends well, removed when it
    does not: nothing half-written is ever left."""
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if out.exists():
            check_output(out, overwrite)
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError as e:  # named by where it was going: the temporary folder is gone by the time anyone reads this
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e.filename, (str, os.PathLike)) and str(e.filename).startswith(str(tmp)):
            raise OSError(e.errno, f"{e.strerror}, writing", str(out) + str(e.filename)[len(str(tmp)):]) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def frame_for(index: int, size: tuple[int, int], face: np.ndarray, detections: Detections, status: str) -> PoseFrame:
    """Frame ``index`` as writers take it: the FLT face, the driver's body and hands (where detected)."""
    ok = np.isfinite(face).all(1)
    body = None if detections.body is None else detections.body[index]
    hands = None if detections.hands is None else detections.hands[index]
    has_body = body is not None and not np.isnan(body).all()
    has_hands = hands is not None and not np.isnan(hands).all()
    return PoseFrame(index=index, image_size=(int(size[0]), int(size[1])), face=face, face_scores=ok.astype(np.float32),
                     status=status,
                     body=body if has_body else None, body_scores=detections.body_scores[index] if has_body else None,
                     hands=hands if has_hands else None, hand_scores=detections.hand_scores[index] if has_hands else None)


def write_formats(tmp: Path, formats: Sequence[str], context: OutputContext, flt: np.ndarray, detections: Detections,
                  status: Sequence[str], pm, draw_resolution: int | None = None, progress: bool = False,
                  format_options: dict[str, dict[str, Any]] | None = None) -> list[Path]:
    """Each format's writer at the target its spec names, given what its options ask of the context, and the
    user's options for it (``format_options``, by format)."""
    specs = available_writers(pm)
    targets = {name: specs[name].target(context) if specs[name].target else name for name in formats}
    taken = {"landmarks.npz": "faceflt", f"{context.stem}_debug.mp4": "faceflt's --debug-video"}
    for name, target in targets.items():
        if not isinstance(target, str) or target in ("", ".", "..") or Path(target).name != target or target.startswith("."):
            raise ValueError(f"format {name!r} names its output {target!r}; a writer's target is one file or folder name "
                             "inside the output folder (WriterSpec.target)")
        if target in taken:
            raise ValueError(f"format {name!r} would write {target!r}, which {taken[target]!r} writes too")
        taken[target] = name
    written = []
    for name in formats:
        spec = specs[name]
        target = tmp / targets[name]
        wants = {f.name for f in fields(spec.options)}
        options: dict[str, Any] = {}
        if "context" in wants:
            options["context"] = context
        if "fps" in wants:
            options["fps"] = context.fps
        if "draw_resolution" in wants and draw_resolution is not None:
            options["draw_resolution"] = draw_resolution
        options.update((format_options or {}).get(name, {}))
        writer = make_writer(name, target, pm, **options)
        bar = Progress(f"writing {name}", len(flt), progress)
        try:
            for i in range(len(flt)):
                writer.write(frame_for(i, context.image_size, flt[i], detections, status[i]))
                bar.step()
        finally:
            writer.close()
            bar.close()
        written.append(target)
    return written


DEBUG_PANEL = 720
"""Pixels: the debug video's panels are at most this long on their long side."""


def debug_video(path: Path, source, flt: np.ndarray, detections: Detections, model, reference: Reference, cameras,
                fps: float, status: Sequence[str], draw_resolution: int | None = None, progress: bool = False) -> None:
    """driving frame | driving landmarks | FLT landmarks | the fused face rendered with the reference's texture |
    the pose image as the dwpose format draws it, each panel labelled. Panels larger than DEBUG_PANEL pixels
    on their long side are shrunk to it: five full-size HD panels make a 10-megapixel frame, slow to encode
    (8 frames/s for 1080 x 1920 video) and hard to look at."""
    import cv2

    from .io import FrameSink
    from .plugins.builtin.dwpose_image import DwposeImageOptions, draw_at
    from .render import Renderer

    driving_lms = detections.landmarks
    size = (source.width, source.height)
    resolution = DwposeImageOptions().draw_resolution if draw_resolution is None else draw_resolution
    renderer = Renderer(model, size)
    renderer.set_reference(reference.images[0], reference.fit, 0)
    meshes: dict = {}
    chunks = fused_chunks(model, reference.fit, cameras, driving_lms, np.arange(len(flt)))
    sink = FrameSink(path, fps)
    bar = Progress("debug video", len(flt), progress)
    labels = ("driving", "driving landmarks", "FLT landmarks", "render (reference texture)", "pose image written")
    factor = min(1.0, DEBUG_PANEL / max(size))
    panel_size = (max(2, round(size[0] * factor)), max(2, round(size[1] * factor)))

    def shrink(image: np.ndarray) -> np.ndarray:
        return image if image.shape[1::-1] == panel_size else cv2.resize(image, panel_size, interpolation=cv2.INTER_AREA)

    try:
        for i, frame in source:
            if i >= len(flt):
                break
            while i not in meshes:  # the next block of fused meshes, as the video reaches it
                chunk, fused = next(chunks)
                meshes = dict(zip(chunk.tolist(), fused.vertices))
            rendered = renderer.render(meshes[i], cameras, i, background=frame).rgba[0, ..., :3] if cameras.ok[i] else np.zeros_like(frame)
            pose = draw_at(frame_for(i, size, flt[i], detections, status[i]), resolution)
            small = shrink(frame)
            panels = [small, small.copy(), small.copy(), shrink(rendered), shrink(pose)]
            for panel, pts, colour in ((panels[1], driving_lms[i], (255, 64, 64)), (panels[2], flt[i], (64, 255, 64))):
                for x, y in pts[np.isfinite(pts).all(1)] * factor:
                    cv2.circle(panel, (int(x), int(y)), 2, colour, -1)
            panels = [np.ascontiguousarray(panel) for panel in panels]
            scale = max(panel_size) / 640
            for panel, label in zip(panels, labels):
                cv2.putText(panel, label, (8, int(24 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 0),
                            max(1, int(2 * scale)), cv2.LINE_AA)
            row = np.concatenate(panels, 1)
            sink.write(i, row)  # the sink pads an odd size, as it does the pose video
            bar.step()
    finally:
        sink.close()
        bar.close()
