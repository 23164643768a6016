"""The ``faceflt`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .errors import FacefltError, InputError
from .flt import Mode
from .model import DEFAULT_URL, ENV_VAR, MODEL_FILES, cache_dir, download_model, find_model_dir, load_model


def _model_download(args: argparse.Namespace) -> int:
    if args.what == "dwpose":
        from .downloads import DWPOSE_URL, download_dwpose

        target = download_dwpose(args.dest, base_url=args.url or DWPOSE_URL, force=args.force)
        print(f"DWPose's files are in {target}; --detector dwpose finds them there")
        return 0
    target = download_model(args.dest, base_url=args.url or DEFAULT_URL, force=args.force)
    print(f"model files are in {target}")
    return 0


def _model_info(args: argparse.Namespace) -> int:
    directory = find_model_dir(args.model_dir)
    model = load_model(directory)
    print(f"model directory: {directory}")
    print(f"vertices: {model.num_vertices}, triangles: {len(model.triangles)}")
    print(f"shape coefficients: {model.num_shape_coefficients}")
    print(f"expression ({model.expression_kind}): {', '.join(model.expression_names)}")
    return 0


def _batch(args: argparse.Namespace) -> int:
    from .batch import BatchInterrupted, read_manifest, run_batch

    items = read_manifest(args.manifest)
    options = _job_options(args)
    total = len(items)
    counter = iter(range(1, total + 1))
    try:
        report = run_batch(items, options, workers=args.workers, engine=args.engine,
                           on_item=lambda item, status: print(f"[{next(counter)}/{total}] {item.out}: {status}", file=sys.stderr))
    except BatchInterrupted as e:
        print(f"faceflt: interrupted: {len(e.report.done)} items done, {e.remaining} not finished (their partial outputs "
              f"removed); run the same command again to resume", file=sys.stderr)
        return 130
    print(report.summary())
    return 1 if report.failed else 0


def _eval_identity(args: argparse.Namespace) -> int:
    from .evaluation.clips import find_clips
    from .evaluation.transfer import calibrate
    from .evaluation.transfer_report import clips_from, run_protocol, write_report
    from .flt import Mode
    from .outputs import check_not_a_file

    if args.frames < 3:
        raise InputError(f"--frames must be at least 3, got {args.frames}")
    modes = [Mode.parse(m.strip()) for m in args.modes.split(",") if m.strip()]
    if not modes:
        raise InputError(f"--modes names no FLT mode; give some of {', '.join(m.value for m in Mode)}")
    find_clips(Path(args.people))  # a missing folder or an empty manifest fails here, before any work
    out = Path(args.out)
    check_not_a_file(out)
    cache = Path(args.cache) if args.cache else out / "landmarks"
    clips = clips_from(Path(args.people), args.detector, cache)
    if args.head_pose and not args.calibrate:
        from .evaluation.head_pose import with_head_poses

        try:
            clips = with_head_poses(clips, cache)
        except ImportError:
            print("faceflt: head poses not measured (they need MediaPipe's face mesh: pip install \"mediapipe==0.10.14\", "
                  "Python <= 3.12), so the report has no figures at matched head pose; --no-head-pose leaves them out "
                  "without this note", file=sys.stderr)
    if args.calibrate:
        print("| feature | between-person spread | within-person spread | ratio | people |")
        print("|---|---|---|---|---|")
        for name, (between, within, people) in calibrate(clips).items():
            print(f"| {name} | {between:.4f} | {within:.4f} | {between / within:.2f} | {people} |")
        return 0
    result = run_protocol(clips, modes, frames=args.frames, model_dir=args.model_dir, detector=args.detector)
    print(write_report(result, out))
    return 0


def _eval_videos(args: argparse.Namespace) -> int:
    import csv

    from .evaluation.identity import InceptionEmbedder, bijection, evaluate_videos, make_embedder
    from .io.frames import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.pairs:
        if not Path(args.pairs).is_file():
            raise InputError(f"{args.pairs}: no such file (--pairs takes a CSV with columns video, reference)")
        with open(args.pairs, newline="") as f:
            base = Path(args.pairs).parent
            rows = list(csv.DictReader(f))
        if not rows or not {"video", "reference"} <= set(rows[0]):
            raise InputError(f"{args.pairs}: expected a CSV with columns video, reference")
        pairs = [(base / row["video"], base / row["reference"]) for row in rows]
    else:
        if not args.generated or not args.references:
            raise InputError("give --generated and --references (folders of videos and of pictures), or --pairs with a CSV; "
                             "see `faceflt eval videos --help`")
        for folder in (args.generated, args.references):
            if not Path(folder).is_dir():
                raise InputError(f"{folder}: no such folder")
        videos = sorted(p for p in Path(args.generated).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        images = sorted(p for p in Path(args.references).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not videos or not images:
            raise InputError(f"need videos in {args.generated} and pictures in {args.references}")
        pairs = bijection(videos, images, args.seed)
    embedder = make_embedder(args.arcface_model)
    features = InceptionEmbedder(args.inception_model) if args.inception_model else None
    results, fd = evaluate_videos(pairs, embedder, args.max_frames, features)
    print(f"embedder: {embedder.name}; Frechet distance on {(features or embedder).name} features")
    print("| video | reference | frames | faces | identity similarity (mean) | variance |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {Path(r.video).name} | {Path(r.reference).name} | {r.frames} | {r.faces} | {r.mean_similarity:.3f} | {r.variance:.4f} |")
    means = [r.mean_similarity for r in results if r.faces]
    if not means:
        raise InputError("no face was found in any generated video, so there is no identity to score; check the videos")
    print(f"mean over {len(means)} videos with a face: {sum(means) / len(means):.3f}; Frechet distance (frames vs "
          f"references): {fd:.4f}")
    return 0


def _eval_synthetic(args: argparse.Namespace) -> int:
    from .evaluation.synthetic import synthetic_benchmark

    if args.pairs < 1 or args.frames < 1:
        raise InputError(f"--pairs and --frames must be at least 1, got {args.pairs} and {args.frames}")
    if not 0 <= args.noise < float("inf"):
        raise InputError(f"--noise must be a finite number of pixels >= 0, got {args.noise}")
    model = load_model(args.model_dir)
    result = synthetic_benchmark(model, pairs=args.pairs, frames=args.frames, noise=args.noise, seed=args.seed)
    print(f"mean landmark error against the exact FLT answer, pixels ({args.pairs} pairs x {args.frames} frames, "
          f"512 x 512, noise {args.noise} px)")
    print("| mode | inner face (51 points) | jaw (to the exact outline) |")
    print("|---|---|---|")
    for mode, e in result.items():
        print(f"| {'none (the driver)' if mode == 'none' else mode} | {e['inner']:.2f} | {e['jaw']:.2f} |")
    return 0


COMFYUI_SHIM = """# Written by `faceflt comfyui install`: ComfyUI loads faceflt's nodes from the faceflt package installed in
# ComfyUI's Python environment (pip install faceflt there). Remove this folder to uninstall.
from faceflt.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
"""


def _comfyui_install(args: argparse.Namespace) -> int:
    root = Path(args.comfyui)
    if not (root / "custom_nodes").is_dir():
        raise InputError(f"{root}: no custom_nodes folder here; give the ComfyUI folder (the one holding main.py and custom_nodes)")
    target = root / "custom_nodes" / "faceflt"
    target.mkdir(exist_ok=True)
    (target / "__init__.py").write_text(COMFYUI_SHIM)
    print(f"faceflt's nodes (FLT Transform, FLT Draw Pose) are in {target}; restart ComfyUI. ComfyUI's Python must have "
          "faceflt installed: run `pip install faceflt` with it.")
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from .plugins import DetectorSpec, available_detectors, available_writers, get_plugin_manager
    from .plugins.manager import FILLED_BY_FACEFLT
    from .plugins.types import missing_modules

    def usable(spec) -> str:
        missing = missing_modules(spec)
        return "" if not missing else f" [not usable here: needs {', '.join(missing)}; {spec.install or 'install them'}]"

    pm = get_plugin_manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    print("plugins:")
    for name, plugin in pm.list_name_plugin():
        dist = dists.get(id(plugin))
        version = f"{dist.project_name} {dist.version}" if dist else f"faceflt {__version__} (built in)"
        hooks = ", ".join(sorted(h.name for h in pm.get_hookcallers(plugin) or []))
        print(f"  {name}: {version}; hooks: {hooks}")
    def options(spec) -> str:
        import dataclasses

        if not dataclasses.is_dataclass(spec.options):
            return ""
        def shown(value) -> str:  # as typed on the command line: true/false for booleans
            return str(value).lower() if isinstance(value, bool) else repr(value)

        fields = [f"{f.name}={shown(f.default)}" if f.default is not dataclasses.MISSING else
                  f"{f.name}={shown(f.default_factory())}" if f.default_factory is not dataclasses.MISSING else
                  f"{f.name} (required)" for f in dataclasses.fields(spec.options) if f.name not in FILLED_BY_FACEFLT]
        flag = "--detector-option KEY=VALUE" if isinstance(spec, DetectorSpec) else f"--format-option {spec.name}.KEY=VALUE"
        return f"\n    options ({flag}): {', '.join(fields)}" if fields else ""

    print("detectors:")
    for name, spec in available_detectors(pm).items():
        print(f"  {name} [{spec.scheme}]: {spec.description}{usable(spec)}{options(spec)}")
    print("output formats:")
    for name, spec in available_writers(pm).items():
        print(f"  {name}: {spec.description}{usable(spec)}{options(spec)}")
    return 0


def _format_options(pairs: list[str]) -> dict:
    """FORMAT.KEY=VALUE pairs -> {format: {key: "value"}}; the plugin manager reads each value as its option's type."""
    out: dict[str, dict] = {}
    for pair in pairs:
        setting = pair.partition("=")[0]
        name, dot, rest = pair.partition(".")
        if "=" not in pair or "." not in setting or not name:
            raise InputError(f"--format-option expects FORMAT.KEY=VALUE, got {pair!r}")
        out.setdefault(name, {}).update(_detector_options([rest], "--format-option"))
    return out


def _detector_options(pairs: list[str], flag: str = "--detector-option") -> dict:
    """KEY=VALUE pairs -> {key: "value"}; the plugin manager reads each value as its option's type."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"{flag} expects KEY=VALUE, got {pair!r}")
        out[key.replace("-", "_")] = value
    return out


def _transform(args: argparse.Namespace) -> int:
    from .pipeline import transform

    options = _job_options(args, debug_video=args.debug_video, overwrite=args.overwrite,
                           progress=not args.quiet and sys.stderr.isatty())
    result = transform(args.reference, args.driving, args.out, options)
    print(result.summary)
    return 0


def _add_job_arguments(p: argparse.ArgumentParser) -> None:
    """The options of a transform job, shared by `transform` and `batch`; defaults from TransformOptions."""
    from dataclasses import fields

    from .options import TransformOptions

    default = {f.name: f.default for f in fields(TransformOptions)}
    p.add_argument("--mode", choices=[m.value for m in Mode], default=Mode(default["mode"]).value,
                    help="relative: the driver's motion relative to its own neutral face, given to the reference's face "
                    "in 3D (best in `faceflt eval identity`); project: the fused 3D face's landmarks (the paper without "
                    "re-detection); redetect: the paper's re-render textured with the reference and re-detect")
    p.add_argument("--detector", default=default["detector"], help="landmark detector plugin (see `faceflt plugins`): holistic (MediaPipe: "
                    "body, hands and face in one pass), dlib (the paper's face detector), mediapipe (face mesh), "
                    "dwpose, keypoints, or a third-party one")
    p.add_argument("--reference-detector", default=None,
                    help="detector for the reference picture (default: --detector, or dlib when --detector replays keypoints)")
    p.add_argument("--reference-detector-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the reference detector, e.g. path=reference_keypoints.npz (keypoints)")
    p.add_argument("--detector-option", action="append", default=[], metavar="KEY=VALUE",
                    help="an option of the detector, e.g. upsample=2 (dlib), detector_model=yolox_l.onnx (dwpose), "
                    "path=keypoints/ (keypoints), holistic_hands=true (holistic)")
    p.add_argument("--format", default=",".join(default["formats"]),
                    help="comma-separated output formats: dwpose (the pose video), mimicmotion, openpose (CMU's JSON per "
                    "frame), dwpose-png (the pose images as a PNG folder, also for a video), openpose-controlnet (normalised JSON per frame, as ControlNet / ComfyUI read it), "
                    "pose-keypoint (one JSON list: ComfyUI's POSE_KEYPOINT), npz, or a plugin's (`faceflt plugins` "
                    "lists them)")
    p.add_argument("--format-option", action="append", default=[], metavar="FORMAT.KEY=VALUE",
                   help="an option of an output format, e.g. openpose.variant=controlnet (`faceflt plugins` lists each "
                   "format's options)")
    p.add_argument("--model-dir", default=None, help=f"Surrey Face Model folder (default: ${ENV_VAR}, then {cache_dir()})")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many driving frames (default: all)")
    p.add_argument("--draw-resolution", type=int, default=None, metavar="PIXELS",
                   help="short side of the canvas pose images are drawn on before resizing to the frame, so that strokes "
                   "on HD video are as thick as the models saw in training (default: each format's tool's: 512 for dwpose, "
                   "as Moore-AnimateAnyone; 2160 for mimicmotion; 0: the frame's own size)")
    p.add_argument("--fps", type=float, default=None,
                   help="frames per second of the driving frames (default: the video's own; 30 for a folder of frames)")
    p.add_argument("--smoothing", type=float, default=default["smoothing"],
                    help="strength of the zero-lag One-Euro smoothing of head pose and expression (1: 1 Hz minimum cutoff), "
                    "and of the driver's landmarks that the relative mode moves (a low-pass at 10 Hz / smoothing: at 1, "
                    "it takes out about 40%% of the detector's jitter and 1-2%% of the expressions' amplitude; it "
                    "filters nothing at half the frame rate or more, e.g. below 0.67 at 30 fps; 0 to 100)")
    p.add_argument("--no-smoothing", action="store_true", help="turn smoothing off")
    p.add_argument("--max-gap", type=int, default=default["max_gap"],
                    help="gaps without a face up to this many frames are interpolated; longer ones stay empty (flagged)")
    p.add_argument("--retarget-body", action="store_true",
                    help="give the driving body the reference's limb proportions (as MusePose/UniAnimate align poses) and "
                    "move the FLT face and hands with it; needs a whole-body detector (holistic, the default, or dwpose)")


def _job_options(args: argparse.Namespace, **extra):
    from .options import TransformOptions

    return TransformOptions(
        mode=args.mode, detector=args.detector, detector_options=_detector_options(args.detector_option),
        reference_detector_options=_detector_options(args.reference_detector_option, "--reference-detector-option"),
        reference_detector=args.reference_detector, formats=tuple(f.strip() for f in args.format.split(",") if f.strip()),
        format_options=_format_options(args.format_option),
        model_dir=args.model_dir, max_frames=args.max_frames, fps=args.fps, draw_resolution=args.draw_resolution,
        smoothing=0.0 if args.no_smoothing else args.smoothing,
        max_gap=args.max_gap, retarget_body=args.retarget_body, **extra)


class _Formatter(argparse.HelpFormatter):
    """Descriptions are wrapped paragraph by paragraph, and example blocks (indented lines) are kept as written;
    an option's default is shown once, where it says something (not for required options, flags, or None)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        paragraphs = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if len(lines) > 1 and all(line.startswith("  ") for line in lines[1:]):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(textwrap.fill(" ".join(lines), width, initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or action.required or default in (None, False, [], argparse.SUPPRESS)
                or action.option_strings == [] or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))):
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceflt",
        formatter_class=_Formatter,
        description="Facial Landmarks Transformation: keep a reference face's identity while following a "
        "driving video's expression and head pose, as landmarks for pose-guided animation models.\n\n"
        "examples:\n"
        "  faceflt model download\n"
        "  faceflt transform --reference A.jpg --driving B.mp4 --out out/\n"
        "  faceflt plugins",
    )
    parser.add_argument("--version", action="version", version=f"faceflt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    tr = commands.add_parser(
        "transform", help="reference picture(s) + driving video -> identity-preserving pose conditions",
        formatter_class=_Formatter,
        description="Fits the face model to the reference picture(s) and to every driving frame, keeps the reference's "
        "face shape with the driver's expression and head pose, and writes the FLT landmarks, pose images/video and "
        "keypoint files to OUT (landmarks.npz always; <name>_kps.mp4 for the dwpose format, as Moore-AnimateAnyone "
        "names it). Outputs are written to a temporary folder and moved into place at the end.\n\n"
        "examples:\n"
        "  faceflt transform --reference A.jpg --driving B.mp4 --out out/\n"
        "  faceflt transform --reference A.jpg --driving frames/ --fps 25 --out out/ --format dwpose,pose-keypoint\n"
        "  faceflt transform --reference A.jpg --driving B.mp4 --out out/ --detector keypoints \\\n"
        "      --detector-option path=B_pose_keypoint.json --reference-detector holistic --retarget-body")
    tr.add_argument("--reference", action="append", required=True, metavar="IMAGE",
                    help="picture of the person to animate; repeat for several pictures of the same person (one identity "
                    "is fitted over all)")
    tr.add_argument("--driving", required=True, metavar="VIDEO",
                    help="driving video (mp4, mov, mkv, avi...: H.264, HEVC, MPEG-4...), a single image, or a folder of frames")
    tr.add_argument("--out", required=True, metavar="DIR", help="output folder (must not exist unless --overwrite)")
    _add_job_arguments(tr)
    tr.add_argument("--debug-video", action="store_true",
                    help="also write <name>_debug.mp4: driving frame | driving landmarks | FLT landmarks | textured render")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing output folder (one that is empty or holds a faceflt output: never the current folder or one holding an input)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(run=_transform)

    ba = commands.add_parser(
        "batch", formatter_class=_Formatter,
        help="run transform over a manifest of (reference, driving, out), in parallel and resumable",
        description="Reads a CSV (columns reference, driving, out; several references separated by ';') or a JSON list "
        "of such objects, and runs every item whose out folder has no landmarks.npz yet, in worker processes (or Ray "
        "tasks with --engine ray). Failures are listed with their errors at the end; exit code 1 if any failed. Ctrl-C "
        "stops at once; the same command resumes.\n\n"
        "example:\n  faceflt batch jobs.csv --workers 2 --format dwpose,npz")
    ba.add_argument("manifest", help="the manifest (.csv or .json); relative paths are from its folder")
    ba.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    ba.add_argument("--engine", choices=["process", "ray"], default="process",
                    help="process: this machine; ray: a Ray cluster (RAY_ADDRESS), pip install 'faceflt[ray]'")
    _add_job_arguments(ba)
    ba.set_defaults(run=_batch)

    ev = commands.add_parser("eval", help="measure what FLT does")
    ev_commands = ev.add_subparsers(dest="eval_command", metavar="WHAT")
    ie = ev_commands.add_parser(
        "identity", formatter_class=_Formatter,
        help="identity transfer against each reference person's own video, expression fidelity and jitter of every mode",
        description="The identity-transfer protocol (faceflt.evaluation.transfer): each video shows one person. For every "
        "ordered pair A <- B, a frontal mouth-closed frame from the first third of A's video is the reference picture, "
        "B's video drives, and the output's identity features (jaw widths, nose width, upper lip, eye width; plain numpy "
        "on 68 points) are compared with A's own frames from the last two thirds; and again with A's frames at each driving "
        "frame's head pose, measured by MediaPipe's face mesh (not by the method's model). Scores every FLT mode beside the "
        "anchors (the driver, paste, relative-2d, own-frames) and writes report.md, scores.json and plots to OUT.\n\n"
        "examples:\n"
        "  faceflt eval identity --people ../shared/data/videos --out report/\n"
        "  faceflt eval identity --people people.txt --out report/ --modes relative --frames 150\n"
        "  faceflt eval identity --people ../shared/data/videos --out report/ --calibrate")
    ie.add_argument("--people", required=True, help="folder of one-person videos, or a text file listing them (one per line; "
                    "'path = name' names the person, and videos of one person are never paired)")
    ie.add_argument("--out", required=True, help="folder for the report")
    ie.add_argument("--modes", default=",".join(m.value for m in Mode), help="comma-separated FLT modes to score "
                    "(default: %(default)s)")
    ie.add_argument("--frames", type=int, default=300, help="the first FRAMES frames of each driver (default: %(default)s)")
    ie.add_argument("--detector", default="dlib", help="landmark detector plugin of the measurement (default: %(default)s)")
    ie.add_argument("--cache", default=None, help="folder for the detected landmarks (default: OUT/landmarks)")
    ie.add_argument("--calibrate", action="store_true",
                    help="print each identity feature's between- and within-person spread on these people, and stop")
    ie.add_argument("--no-head-pose", dest="head_pose", action="store_false",
                    help="skip measuring each frame's head pose with MediaPipe's face mesh (the report then has no figures "
                    "at matched head pose and no own-frames anchor)")
    ie.add_argument("--model-dir", default=None, help="Surrey Face Model folder")
    ie.set_defaults(run=_eval_identity)

    vi = ev_commands.add_parser(
        "videos", formatter_class=_Formatter,
        help="identity of generated videos: per-video cosine similarity to the reference, and a Frechet distance",
        description="For each generated video and its reference picture: the cosine similarity of every frame's face "
        "embedding with the reference's, mean and variance over frames (the paper's Eq. 3); and the Frechet distance "
        "between the generated frames' and the references' embeddings. Embedder: dlib's face recognition ResNet (offline, "
        "a stand-in for ArcFace), or your ArcFace ONNX model. Pairs: a CSV (columns video, reference), else the shuffle "
        "bijection with a fixed seed between the two folders.")
    vi.add_argument("--generated", help="folder of generated videos")
    vi.add_argument("--references", help="folder of reference pictures")
    vi.add_argument("--pairs", default=None, help="CSV with columns video, reference (instead of the shuffle)")
    vi.add_argument("--seed", type=int, default=0, help="seed of the shuffle bijection")
    vi.add_argument("--arcface-model", default=None, help="your ArcFace .onnx (112x112 input); default: dlib's ResNet")
    vi.add_argument("--inception-model", default=None,
                    help="your Inception .onnx (FID's network, 299x299 input): the Frechet distance uses its features of "
                    "the face crops, as FID does; default: the identity embeddings")
    vi.add_argument("--max-frames", type=int, default=None, help="frames per video (default: all)")
    vi.set_defaults(run=_eval_videos)

    sy = ev_commands.add_parser(
        "synthetic", formatter_class=_Formatter,
        help="each mode's error where the exact FLT answer is known (faces drawn from the model)",
        description="Draws driver and reference identities, expressions and head motion from the face model, adds "
        "detector-like noise to the landmarks, runs the fitting and FLT stages, and reports each mode's mean error "
        "against the reference identity with the driver's expression and pose (redetect needs images: see eval identity).")
    sy.add_argument("--pairs", type=int, default=8, help="pairs of faces drawn from the model (reference, driver)")
    sy.add_argument("--frames", type=int, default=60, help="driving frames per pair")
    sy.add_argument("--noise", type=float, default=1.5, help="landmark noise, pixels (standard deviation)")
    sy.add_argument("--seed", type=int, default=0, help="random seed of the faces, poses and noise")
    sy.add_argument("--model-dir", default=None, help="Surrey Face Model folder")
    sy.set_defaults(run=_eval_synthetic)

    comfy = commands.add_parser("comfyui", help="ComfyUI nodes: FLT Transform and FLT Draw Pose")
    comfy_commands = comfy.add_subparsers(dest="comfyui_command", metavar="ACTION")
    ci = comfy_commands.add_parser(
        "install", formatter_class=_Formatter,
        help="add faceflt's nodes to a ComfyUI installation",
        description="Writes custom_nodes/faceflt/__init__.py into the ComfyUI folder; it imports the nodes from this "
        "package (faceflt.comfyui), so faceflt must be installed in ComfyUI's Python environment.\n\n"
        "example:\n  faceflt comfyui install ~/ComfyUI")
    ci.add_argument("comfyui", help="the ComfyUI folder (holding main.py and custom_nodes)")
    ci.set_defaults(run=_comfyui_install)

    plugins = commands.add_parser("plugins", help="list installed plugins, detectors and output formats",
                                  description="Lists the plugins faceflt found (built-in and from the 'faceflt' entry-point "
                                  "group), with their versions and hooks, and the detectors and output formats they offer.")
    plugins.set_defaults(run=_plugins)

    model = commands.add_parser("model", help="find, download or inspect the Surrey Face Model files")
    model_commands = model.add_subparsers(dest="model_command", metavar="ACTION")
    download = model_commands.add_parser(
        "download", formatter_class=_Formatter,
        help="download the Surrey Face Model (from eos) or DWPose's weights into the user cache, sha256-checked",
        description=f"sfm: downloads {', '.join(f.name for f in MODEL_FILES)} and checks each against its pinned sha256 "
        "(the Surrey Face Model is free for non-commercial use only). dwpose: downloads DWPose's yolox_l.onnx and "
        "dw-ll_ucoco_384.onnx from the Hugging Face hub (yzd-v/DWPose), each checked against the sha256 the source "
        "publishes (a mirror's SHA256SUMS, else the hub's LFS id), where --detector dwpose finds them.\n\n"
        "examples:\n"
        "  faceflt model download\n"
        "  faceflt model download --url /media/usb/eos/share     # offline, from a copy of the files\n"
        "  faceflt model download dwpose\n"
        "  faceflt model download dwpose --url /media/usb/dwpose # a folder with the two files and their SHA256SUMS",
    )
    download.add_argument("what", nargs="?", choices=["sfm", "dwpose"], default="sfm",
                          help="which files: the Surrey Face Model, or DWPose's ONNX weights")
    download.add_argument("--dest", default=None, help=f"target folder (default: {cache_dir()}, or its dwpose sibling)")
    download.add_argument("--url", default=None,
                          help=f"base URL of the files, or a folder holding them (a local mirror works offline); default: "
                          f"{DEFAULT_URL} (sfm), https://huggingface.co/yzd-v/DWPose/resolve/main/ (dwpose)")
    download.add_argument("--force", action="store_true", help="download again even if valid files are present")
    download.set_defaults(run=_model_download)
    info = model_commands.add_parser("info", help="say which model files are used and what they hold")
    info.add_argument("--model-dir", default=None, help=f"model folder (default: ${ENV_VAR}, then {cache_dir()})")
    info.set_defaults(run=_model_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):  # no command (or no action of one): its help, and a usage error's exit status
        try:
            parser.parse_args([*(sys.argv[1:] if argv is None else argv), "--help"])
        except SystemExit:
            pass
        return 2
    try:
        return args.run(args)
    except (FacefltError, OSError, ImportError, ValueError) as e:  # OSError: a disk full, a folder removed mid-way
        if os.environ.get("FACEFLT_TRACEBACK"):
            raise
        print(f"faceflt: error: {e}{_origin(e, outside_only=True)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("faceflt: interrupted; nothing half-written was left", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, in faceflt or in a plugin: where it was, in one line
        if os.environ.get("FACEFLT_TRACEBACK"):
            raise
        print(f"faceflt: error: {type(e).__name__}: {e}{_origin(e)}; nothing half-written was left "
              "(FACEFLT_TRACEBACK=1 shows the traceback)", file=sys.stderr)
        return 1


def _origin(error: BaseException, outside_only: bool = False) -> str:
    """' (raised in FILE:LINE, in FUNCTION)' for the innermost frame of the error's traceback that is not Python's, numpy's
    or pluggy's: a plugin's code, or faceflt's (left out with ``outside_only``: faceflt's own messages say enough)."""
    import sysconfig
    import traceback

    import numpy
    import pluggy

    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    packages = (Path(numpy.__file__).parent.resolve(), Path(pluggy.__file__).parent.resolve())

    def library(path: Path) -> bool:  # the standard library is not its site-packages (where plugins are installed)
        return (any(path.is_relative_to(p) for p in packages)
                or path.is_relative_to(stdlib) and not {"site-packages", "dist-packages"} & set(path.parts))

    package = Path(__file__).parent.resolve()
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith("<"):  # <frozen importlib._bootstrap> and the like
            continue
        path = Path(frame.filename).resolve()
        if library(path):
            continue
        if outside_only and path.is_relative_to(package):
            return ""
        return f" (raised in {frame.filename}:{frame.lineno}, in {frame.name})"
    return ""


if __name__ == "__main__":
    sys.exit(main())
