"""A bounded mutation run over the model files (tools/fuzz_model_files.py runs thousands): every mutated copy
loads or is refused with a ModelFormatError; none crashes its process, raises another error, or loads into a
model whose fit reports ok with non-finite output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from fuzz_model_files import FILES, run  # noqa: E402


@pytest.mark.parametrize("name", FILES)
def test_mutated_model_files_load_or_are_refused(model_dir, name):
    outcomes = run(model_dir, per_file=150, seed=FILES.index(name), files=(name,))
    bad = [f"{o.mutation}: {o.result}" for o in outcomes if o.result.split()[0] not in ("loaded", "refused")]
    assert not bad, bad[:5]
    # the run is not vacuous: most mutations are refused, and the unchanged-enough ones still load
    assert sum(o.result == "refused" for o in outcomes) > 50


def test_a_crashing_load_is_reported_and_the_run_goes_on(model_dir, monkeypatch):
    import fuzz_model_files

    monkeypatch.setattr(fuzz_model_files, "WORKER", "import os, sys\nfor line in sys.stdin:\n    os.abort()\n")
    outcomes = fuzz_model_files.run(model_dir, per_file=3, seed=0, files=("ibug_to_sfm.txt",))
    assert len(outcomes) == 3 and all(o.result.startswith("crash (exit -6)") for o in outcomes)
