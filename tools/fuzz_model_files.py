"""Mutation run over the face model's files: every mutated copy must load, or be refused with a
ModelFormatError; never crash, raise another error, or load into a model whose fit says ok with
non-finite output.

    python tools/fuzz_model_files.py ../shared/models/sfm --per-file 1000 --seed 0

Each mutated model (one file changed, the others linked) is loaded by a worker process that reports
one line per model; a worker that dies is a crash, reported, and a new worker goes on with the next
model. tests/test_model_fuzz.py runs a bounded number of the same mutations in the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILES = ("sfm_shape_3448.bin", "expression_blendshapes_3448.bin", "ibug_to_sfm.txt", "sfm_model_contours.json",
         "sfm_3448_edge_topology.json")
# Text values that parsers get wrong: hex, out-of-range exponents, non-finite, huge, negative, empty.
_TOKENS = [b"0x10", b"1e-400", b"1e400", b"NaN", b"-Infinity", b"3.4e38", b"-1", b"99999999999", b"", b"[]", b"{}", b'"', b"\xff"]

WORKER = r"""
import sys, numpy as np
import faceflt
import faceflt.evaluation.synthetic as syn
from faceflt.errors import FacefltError, ModelFormatError
for line in sys.stdin:
    path = line.strip()
    try:
        model = faceflt.load_model(path)
    except ModelFormatError as e:
        print("refused", flush=True); continue
    except Exception as e:
        print("error", type(e).__name__, str(e).replace("\n", " ")[:200], flush=True); continue
    try:
        t = syn.truth(model, np.zeros((1, model.num_shape_coefficients)), np.zeros((1, model.num_expression_coefficients)), [[10, 0, 0]])
        truth = syn.truth_landmarks(model, t)
        fit = faceflt.fit(model, np.nan_to_num(truth, nan=250.0), (512, 512), on_failure="nan")
        bad = fit.ok[0] and not (np.isfinite(fit.projected).all() and np.isfinite(fit.rotation).all() and np.isfinite(fit.scale).all())
        print("error ok=True with non-finite output" if bad else "loaded", flush=True)
    except FacefltError:
        print("loaded", flush=True)  # a clear error from the fit of a strange but loadable model
    except Exception as e:
        print("error", type(e).__name__, str(e).replace("\n", " ")[:200], flush=True)
"""


@dataclass(frozen=True)
class Outcome:
    file: str
    mutation: str
    result: str  # loaded, refused, error ..., crash ...


def mutate(data: bytes, rng: np.random.Generator, text: bool) -> tuple[bytes, str]:
    """One random mutation of a file's bytes, and its description."""
    n = len(data)
    kind = rng.integers(0, 6 if text else 4)
    if kind == 0:
        cut = int(rng.integers(0, n))
        return data[:cut], f"truncated at {cut}"
    if kind == 1:
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            out[int(rng.integers(0, n))] = int(rng.integers(0, 256))
        return bytes(out), "bytes flipped"
    if kind == 2:
        at, k = int(rng.integers(0, n)), int(rng.integers(1, 64))
        return data[:at] + bytes(rng.integers(0, 256, k, dtype=np.uint8)) + data[at:], f"{k} bytes inserted at {at}"
    if kind == 3:
        at = int(rng.integers(0, n))
        k = int(rng.integers(1, min(4096, n - at) + 1))
        if not text:  # a float of the arrays set to an extreme value
            value = np.array(rng.choice([np.nan, np.inf, 3.4e38, -3.4e38, 1e30]), np.float32).tobytes()
            at -= at % 4
            return data[:at] + value + data[at + 4 :], f"float at {at} set"
        return data[:at] + data[at + k :], f"{k} bytes deleted at {at}"
    digits = [i for i in range(n) if 48 <= data[i] <= 57]
    if kind == 4 and digits:
        at = digits[int(rng.integers(0, len(digits)))]
        end = at
        while end < n and (48 <= data[end] <= 57 or data[end] in b".eE-+"):
            end += 1
        token = _TOKENS[int(rng.integers(0, len(_TOKENS)))]
        return data[:at] + token + data[end:], f"number at {at} replaced by {token!r}"
    lines = data.split(b"\n")
    i = int(rng.integers(0, len(lines)))
    if rng.integers(0, 2):
        del lines[i]
        return b"\n".join(lines), f"line {i + 1} removed"
    lines.insert(i, lines[int(rng.integers(0, len(lines)))])
    return b"\n".join(lines), f"a line duplicated at {i + 1}"


class Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)

    def load(self, path: Path) -> str:
        try:
            self.proc.stdin.write(f"{path}\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if line:
            return line.strip()
        code = self.close()
        self.__init__()
        return f"crash (exit {code})"

    def close(self) -> int:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except BrokenPipeError:
                pass
        return self.proc.wait()


def run(model_dir: Path, per_file: int, seed: int, files=FILES) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    outcomes = []
    worker = Worker()
    with tempfile.TemporaryDirectory() as tmp:
        for name in files:
            original = (model_dir / name).read_bytes()
            text = not name.endswith(".bin")
            for k in range(per_file):
                data, what = mutate(original, rng, text)
                folder = Path(tmp) / f"{name}-{k}"
                folder.mkdir()
                for other in FILES:
                    if other != name:
                        os.symlink(model_dir.resolve() / other, folder / other)
                (folder / name).write_bytes(data)
                outcomes.append(Outcome(name, what, worker.load(folder)))
                (folder / name).unlink()
    worker.close()
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="the Surrey Face Model folder")
    parser.add_argument("--per-file", type=int, default=1000, help="mutations of each file (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write every outcome to this JSON file")
    args = parser.parse_args()
    outcomes = run(args.model_dir, args.per_file, args.seed)
    counts = Counter((o.file, o.result.split()[0]) for o in outcomes)
    print(f"{len(outcomes)} mutated models ({args.per_file} per file, seed {args.seed}):")
    for name in FILES:
        print(f"  {name}: " + ", ".join(f"{counts[(name, r)]} {r}" for r in ("loaded", "refused", "error", "crash")))
    bad = [o for o in outcomes if o.result.split()[0] in ("error", "crash")]
    for o in bad[:20]:
        print(f"  MISBEHAVED {o.file} ({o.mutation}): {o.result}")
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
