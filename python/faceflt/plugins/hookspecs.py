"""The hooks faceflt calls on plugins. Built-in detectors and formats use the same hooks.

A plugin is a module (or object) with functions marked ``@faceflt.plugins.hookimpl`` and named as
below, registered through the ``faceflt`` entry-point group::

    [project.entry-points.faceflt]
    my_plugin = "my_package.faceflt_plugin"
"""

from __future__ import annotations

import pluggy

from .types import DetectorSpec, WriterSpec

hookspec = pluggy.HookspecMarker("faceflt")
hookimpl = pluggy.HookimplMarker("faceflt")


@hookspec
def faceflt_register_detectors() -> list[DetectorSpec]:
    """Return the landmark detectors this plugin offers.

    Called once, when a plugin manager collects the detectors (``faceflt plugins``, choosing
    ``--detector``). Building the detector (loading weights) happens only in ``DetectorSpec.factory``.
    """


@hookspec
def faceflt_register_writers() -> list[WriterSpec]:
    """Return the output formats (writers) this plugin offers.

    Called once, when a plugin manager collects the writers (``faceflt plugins``, ``--format``).
    """
