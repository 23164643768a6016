"""The compiled core's contract: typed stubs that match it, a docstring on every bound function and class, and a
readable repr on every bound class."""

from __future__ import annotations

import ast
from pathlib import Path

from faceflt import _core

STUB = Path(__file__).resolve().parents[1] / "python" / "faceflt" / "_core.pyi"


def _public() -> list[str]:
    return sorted(n for n in dir(_core) if not n.startswith("_"))


def test_stub_lists_exactly_what_the_core_binds():
    tree = ast.parse(STUB.read_text())
    declared = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert declared == set(_public()), "python/faceflt/_core.pyi is stale: regenerate it (see its first line)"
    assert (STUB.parent / "py.typed").is_file()


def test_every_bound_name_is_documented_and_every_class_has_a_repr():
    for name in _public():
        obj = getattr(_core, name)
        doc = [line for line in (obj.__doc__ or "").splitlines() if line.strip()]
        if isinstance(obj, type):
            assert doc, f"class {name} has no docstring"
            assert "__repr__" in obj.__dict__, f"class {name} has no __repr__"
        else:
            assert len(doc) >= 2, f"{name}() has a signature but no docstring"
