"""The ``faceflt`` command line."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import FacefltError
from .model import DEFAULT_URL, ENV_VAR, MODEL_FILES, cache_dir, download_model, find_model_dir, load_model


def _model_download(args: argparse.Namespace) -> int:
    target = download_model(args.dest, base_url=args.url, force=args.force)
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


def _plugins(args: argparse.Namespace) -> int:
    from .plugins import available_detectors, available_writers, get_plugin_manager

    pm = get_plugin_manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    print("plugins:")
    for name, plugin in pm.list_name_plugin():
        dist = dists.get(id(plugin))
        version = f"{dist.project_name} {dist.version}" if dist else f"faceflt {__version__} (built in)"
        hooks = ", ".join(sorted(h.name for h in pm.get_hookcallers(plugin) or []))
        print(f"  {name}: {version}; hooks: {hooks}")
    print("detectors:")
    for name, spec in available_detectors(pm).items():
        print(f"  {name} [{spec.scheme}]: {spec.description}")
    print("output formats:")
    for name, spec in available_writers(pm).items():
        print(f"  {name}: {spec.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceflt",
        description="Facial Landmarks Transformation: keep a reference face's identity while following a "
        "driving video's expression and head pose, as landmarks for pose-guided animation models.",
    )
    parser.add_argument("--version", action="version", version=f"faceflt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    plugins = commands.add_parser("plugins", help="list installed plugins, detectors and output formats",
                                  description="Lists the plugins faceflt found (built-in and from the 'faceflt' entry-point "
                                  "group), with their versions and hooks, and the detectors and output formats they offer.")
    plugins.set_defaults(run=_plugins)

    model = commands.add_parser("model", help="find, download or inspect the Surrey Face Model files")
    model_commands = model.add_subparsers(dest="model_command", metavar="ACTION")
    download = model_commands.add_parser(
        "download",
        help="download the model files (from eos, sha256-checked) into the user cache",
        description=f"Downloads {', '.join(f.name for f in MODEL_FILES)} and checks each against its pinned sha256. "
        "The Surrey Face Model is free for non-commercial use only.",
    )
    download.add_argument("--dest", default=None, help=f"target folder (default: {cache_dir()})")
    download.add_argument("--url", default=DEFAULT_URL,
                          help="base URL of the files; a local mirror works, e.g. file:///data/eos/share/ (default: %(default)s)")
    download.add_argument("--force", action="store_true", help="download again even if valid files are present")
    download.set_defaults(run=_model_download)
    info = model_commands.add_parser("info", help="say which model files are used and what they hold")
    info.add_argument("--model-dir", default=None, help=f"model folder (default: ${ENV_VAR}, then {cache_dir()})")
    info.set_defaults(run=_model_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.parse_args([*(argv or sys.argv[1:]), "--help"])
        return 2
    try:
        return args.run(args)
    except FacefltError as e:
        print(f"faceflt: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
