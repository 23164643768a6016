"""Building the plugin manager and looking up detectors and writers by name."""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from typing import Any

import numpy as np
import pluggy

from . import hookspecs
from .types import Detector, DetectorSpec, Writer, WriterSpec

ENTRY_POINT_GROUP = "faceflt"
LOAD_ENV = "FACEFLT_LOAD_PLUGINS"
"""Comma-separated names of the entry-point plugins to load (empty: none); unset: all (datasette's switch)."""
TRACE_ENV = "FACEFLT_TRACE_PLUGINS"
"""Set to 1: every hook call and its results are printed to stderr."""


def get_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A new plugin manager: the hookspecs, the built-in plugins, then the ``faceflt`` entry points (only those
    named in ``$FACEFLT_LOAD_PLUGINS`` when it is set). With ``FACEFLT_TRACE_PLUGINS=1``, hook calls are traced to
    stderr. Nothing is loaded at import time; each call builds a fresh manager.
    """
    from .builtin import BUILTIN_PLUGINS

    pm = pluggy.PluginManager("faceflt")
    pm.add_hookspecs(hookspecs)
    for plugin in BUILTIN_PLUGINS:
        pm.register(plugin, name=f"faceflt.{plugin.__name__.rsplit('.', 1)[-1]}")
    if load_entry_points:
        _load_entry_points(pm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise ValueError(f"{e}; the hooks are faceflt_register_detectors and faceflt_register_writers "
                         f"({_leave_out(e.plugin_name)})") from None
    if os.environ.get(TRACE_ENV) == "1":
        pm.trace.root.setwriter(lambda text: sys.stderr.write(f"faceflt plugins: {text}"))
        pm.enable_tracing()
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """The ``faceflt`` entry points (those named in $FACEFLT_LOAD_PLUGINS when it is set), one by one: a plugin
    that fails to import is named, with how to run without it, instead of breaking every command anonymously."""
    from importlib.metadata import entry_points

    installed = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    names = _wanted(installed)
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise ValueError(f"{LOAD_ENV} names {', '.join(map(repr, unknown))}, which no installed plugin is; installed: "
                         f"{', '.join(installed) or 'none'} (entry-point names of the '{ENTRY_POINT_GROUP}' group)")
    for name in names:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
        except pluggy.PluginValidationError:
            raise
        except Exception as e:
            package = installed[name].dist.name if installed[name].dist else installed[name].value
            raise ImportError(f"the faceflt plugin {name!r} (from {package}) could not be loaded: {type(e).__name__}: {e}; "
                              f"fix or uninstall it, or run without it ({_leave_out(name)})") from e


def _wanted(installed) -> list[str]:
    """The entry-point plugins to load: those named in $FACEFLT_LOAD_PLUGINS, or every installed one when it is unset."""
    wanted = os.environ.get(LOAD_ENV)
    return list(installed) if wanted is None else [n.strip() for n in wanted.split(",") if n.strip()]


def _leave_out(plugin: str) -> str:
    """How to run without one entry-point plugin."""
    from importlib.metadata import entry_points

    others = [name for name in _wanted([ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]) if name != plugin]
    return f"{LOAD_ENV}={','.join(others)} leaves it out" if others else f"{LOAD_ENV}= loads no plugin"


def _collect(pm: pluggy.PluginManager, hook: str, kind: type, what: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for specs in getattr(pm.hook, hook)():
        if not isinstance(specs, (list, tuple)):
            raise TypeError(f"{_registering(pm, hook, lambda r: _alike(r, specs))}: {hook} returned a {type(specs).__name__}; "
                            f"it must return a list of {kind.__name__}")
        for spec in specs:
            if not isinstance(spec, kind):
                raise TypeError(f"{_registering(pm, hook, lambda r: any(_alike(x, spec) for x in r))}: {hook} returned "
                                f"{spec!r} in its list; expected {kind.__name__}")
            if not dataclasses.is_dataclass(spec.options):
                raise TypeError(f"{what} {spec.name!r}: options must be a dataclass type, got {spec.options!r}")
            if spec.name in found:
                both = _registering(pm, hook, lambda r, n=spec.name: any(getattr(x, "name", None) == n for x in r), every=True)
                raise ValueError(f"two plugins register a {what} named {spec.name!r}: {both}; uninstall one, or leave it out "
                                 f"with {LOAD_ENV}")
            found[spec.name] = spec
    return dict(sorted(found.items()))


def _alike(a: Any, b: Any) -> bool:
    """The same answer of a hook called twice: equal, or of one type and name (a spec holding a lambda is new each call)."""
    return a == b or (type(a) is type(b) and getattr(a, "name", None) is not None and getattr(a, "name", None) == getattr(b, "name", None))


def _registering(pm: pluggy.PluginManager, hook: str, test, every: bool = False) -> str:
    """The plugin(s) whose ``hook`` returns what ``test`` accepts (called again, on the error path only)."""
    names = []
    for impl in getattr(pm.hook, hook).get_hookimpls():
        result = impl.function()
        if test(result if isinstance(result, (list, tuple)) else [result]) or test(result):
            names.append(f"plugin {impl.plugin_name!r}")
    return (" and ".join(names) if every else names[0]) if names else "a plugin"


def available_detectors(pm: pluggy.PluginManager | None = None) -> dict[str, DetectorSpec]:
    pm = pm or get_plugin_manager()
    return _collect(pm, "faceflt_register_detectors", DetectorSpec, "detector")


def available_writers(pm: pluggy.PluginManager | None = None) -> dict[str, WriterSpec]:
    pm = pm or get_plugin_manager()
    return _collect(pm, "faceflt_register_writers", WriterSpec, "writer")


def _options(spec: DetectorSpec | WriterSpec, options: dict[str, Any]) -> Any:
    fields = {f.name for f in dataclasses.fields(spec.options)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(f"{spec.name!r} has no option {', '.join(unknown)}; its options are: {', '.join(sorted(fields)) or 'none'}")
    needed = [f.name for f in dataclasses.fields(spec.options) if f.init and f.name not in options
              and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if needed:
        hint = (f" (on the command line: {' '.join(f'--detector-option {n}=...' for n in needed)})"
                if isinstance(spec, DetectorSpec) else "")
        raise ValueError(f"{spec.name!r} needs the option {', '.join(needed)}{hint}")
    return spec.options(**_typed(spec, options))


_KINDS = {bool: "true or false (or yes / no, on / off, 1 / 0)", int: "a whole number", float: "a number"}


def _plain(hint: Any) -> type | None:
    """bool, int or float (or one of them or None); None for any other annotation."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        given = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = given[0] if len(given) == 1 else None
    return hint if hint in _KINDS else None


FILLED_BY_FACEFLT = ("context", "fps")
"""Writer option fields faceflt fills itself (the job's OutputContext, its frame rate)."""


def check_writer_options(name: str, options: dict[str, Any], pm: pluggy.PluginManager | None = None) -> dict[str, Any]:
    """A format's options as a user gives them, checked before any work (names, types) and typed."""
    spec = _lookup(available_writers(pm), name, "writer")
    fields = {f.name for f in dataclasses.fields(spec.options)} - set(FILLED_BY_FACEFLT)
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(f"format {name!r} has no option {', '.join(unknown)}; its options are: {', '.join(sorted(fields)) or 'none'}")
    needed = [f.name for f in dataclasses.fields(spec.options) if f.init and f.name in fields and f.name not in options
              and f.name != "draw_resolution" and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if needed:
        raise ValueError(f"format {name!r} needs the option {', '.join(needed)} "
                         f"({' '.join(f'--format-option {name}.{n}=...' for n in needed)})")
    return _typed(spec, options)


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "on": True, "off": False}


def _sequence(hint: Any) -> tuple[type, Any] | None:
    """(tuple or list, its items' annotation) for a field annotated tuple[X, ...] or list[X]; None otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        given = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = given[0] if len(given) == 1 else None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return tuple, args[0]
    if origin is list and len(args) == 1:
        return list, args[0]
    return None


def _typed(spec: DetectorSpec | WriterSpec, options: dict[str, Any]) -> dict[str, Any]:
    """Each option of a field annotated bool, int or float (or a tuple[X, ...] or list[X] of them, or of str): text
    (the command line's KEY=VALUE; comma-separated for a sequence) read as that type, and a value of another type
    refused with its name, here rather than deep inside the plugin."""
    try:
        hints = typing.get_type_hints(spec.options)
    except Exception:  # a plugin's annotations that do not resolve: nothing to check against
        return options
    typed = dict(options)
    for key, value in options.items():
        if typing.get_origin(hints.get(key)) is typing.Literal:
            choices = typing.get_args(hints[key])
            if value not in choices:
                raise ValueError(f"{spec.name} option {key} must be one of {', '.join(map(repr, choices))}, got {value!r}")
            continue
        sequence = _sequence(hints.get(key))
        if sequence is not None and isinstance(value, str):
            container, item = sequence
            parts = [part.strip() for part in value.split(",") if part.strip()]
            typed[key] = container(_one(spec, key, part, _plain(item)) if _plain(item) else part for part in parts)
            continue
        kind = _plain(hints.get(key))
        if kind is not None and value is not None:
            typed[key] = _one(spec, key, value, kind)
    return typed


def _one(spec: DetectorSpec | WriterSpec, key: str, given: Any, kind: type) -> Any:
    """One value of a bool, int or float option."""
    value = given
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            value = _BOOLEANS.get(text, value) if kind is bool else kind(text)
        except ValueError:
            pass
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (isinstance(value, bool) if kind is bool else number and (kind is float or float(value).is_integer())):
        raise ValueError(f"{spec.name} option {key} must be {_KINDS[kind]}, got {given!r}")
    return kind(value)


def _lookup(specs: dict[str, Any], name: str, what: str) -> Any:
    if name not in specs:
        raise ValueError(f"unknown {what} {name!r}; available: {', '.join(specs) or 'none'} "
                         f"(plugins register more through the '{ENTRY_POINT_GROUP}' entry-point group)")
    return specs[name]


def make_detector(name: str, pm: pluggy.PluginManager | None = None, **options: Any) -> Detector:
    """Builds the detector called ``name`` with the given options (fields of its options dataclass)."""
    spec = _lookup(available_detectors(pm), name, "detector")
    chosen = _options(spec, options)
    try:
        detector = spec.factory(chosen)
    except ImportError as e:
        if not spec.install or spec.install in str(e):
            raise
        raise ImportError(f"{e} (the {name} detector needs: {spec.install})") from e
    if spec.tracks and not callable(getattr(detector, "track", None)):
        raise TypeError(f"detector '{name}' says it tracks (DetectorSpec.tracks) but has no track(frames, first) method")
    return detector


def close_detector(detector: Detector) -> None:
    """Frees what a detector holds (its optional ``close()``: models, graphs, threads); nothing if it has none."""
    close = getattr(detector, "close", None)
    if callable(close):
        close()


def make_writer(name: str, path, pm: pluggy.PluginManager | None = None, **options: Any) -> Writer:
    """Opens the writer called ``name`` at ``path`` with the given options."""
    from pathlib import Path

    spec = _lookup(available_writers(pm), name, "writer")
    return spec.factory(Path(path), _options(spec, options))
