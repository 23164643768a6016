"""``faceflt batch``: many transforms from a manifest, in parallel, resumable.

A manifest is a CSV with columns ``reference``, ``driving``, ``out`` (several reference pictures
separated by ``;``), or a JSON list of objects with those keys (``reference`` may be a list). Relative
paths are taken from the manifest's folder. Items run in worker processes on this machine (default),
or as Ray tasks on a cluster with ``--engine ray`` (``pip install ray``). An item whose output folder
already holds ``landmarks.npz`` is finished and skipped, so an interrupted batch resumes where it
stopped; each transform writes to a temporary folder and renames it at the end, so an interrupted
item leaves nothing half-written (its temporary folder is removed on the next run). A failing item is
listed with its error and never stops the others. Ctrl-C stops the batch at once: the workers are
ended, the items in flight are discarded (nothing half-written stays), and ``BatchInterrupted`` says what
was done; running the same command again resumes.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal, Sequence

from .errors import InputError
from .options import TransformOptions
from .outputs import is_output

__all__ = ["BatchInterrupted", "BatchItem", "BatchReport", "read_manifest", "run_batch"]


@dataclass(frozen=True)
class BatchItem:
    references: tuple[str, ...]
    driving: str
    out: str


@dataclass
class BatchReport:
    done: list[BatchItem] = field(default_factory=list)
    skipped: list[BatchItem] = field(default_factory=list)
    failed: list[tuple[BatchItem, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{len(self.done)} done, {len(self.skipped)} already finished (skipped), {len(self.failed)} failed"]
        lines += [f"  FAILED {item.driving} -> {item.out}: {error}" for item, error in self.failed]
        return "\n".join(lines)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch: ``report`` holds what finished before it; the items in flight were discarded."""

    def __init__(self, report: BatchReport, remaining: int) -> None:
        super().__init__(f"interrupted: {len(report.done)} done, {remaining} not finished")
        self.report, self.remaining = report, remaining


def read_manifest(path: str | Path) -> list[BatchItem]:
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: a folder; the manifest is a CSV or JSON file listing reference, driving, out")
    if not path.is_file():
        raise InputError(f"{path}: no such manifest")
    base = path.parent
    resolve = lambda p: str(p if Path(p).is_absolute() else base / p)
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: not valid JSON ({e}); a JSON manifest is a list of {{reference, driving, out}} "
                             "objects") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise InputError(f"{path}: a JSON manifest is a list of {{reference, driving, out}} objects")
    else:
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:  # a byte-order mark (Excel's "CSV UTF-8") is skipped
                rows = list(csv.DictReader(f))
        except (UnicodeDecodeError, csv.Error) as e:
            raise InputError(f"{path}: not a readable CSV ({e}); a manifest has columns reference, driving, out") from None
    items = []
    for n, row in enumerate(rows, 1):
        missing = [k for k in ("reference", "driving", "out") if not row.get(k)]
        if missing:
            raise InputError(f"{path}: item {n} lacks {', '.join(missing)} (columns: reference, driving, out)")
        refs = row["reference"] if isinstance(row["reference"], list) else str(row["reference"]).split(";")
        items.append(BatchItem(tuple(resolve(str(r).strip()) for r in refs if str(r).strip()), resolve(str(row["driving"])),
                               resolve(str(row["out"]))))
    if not items:
        raise InputError(f"{path}: no items; a manifest lists reference, driving, out (one row or object per job)")
    outs = [Path(i.out).resolve() for i in items]
    if len(set(outs)) != len(outs):
        raise InputError(f"{path}: two items write to the same output folder")
    return items


def _finished(item: BatchItem) -> bool:
    return is_output(Path(item.out))


def _clean_partials(item: BatchItem) -> None:
    out = Path(item.out)
    for partial in out.parent.glob(f".{out.name}.partial-*"):
        shutil.rmtree(partial, ignore_errors=True)


def _run_one(item: BatchItem, options: TransformOptions) -> str:
    from .pipeline import transform

    return transform(list(item.references), item.driving, item.out, replace(options, progress=False, overwrite=False)).summary


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the workers leave it to the batch, which ends them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_reporting(job: tuple[int, BatchItem, TransformOptions]) -> tuple[int, str | None]:
    index, item, options = job
    try:
        _run_one(item, options)
        return index, None
    except Exception as e:  # noqa: BLE001 - a failing item is reported, the rest go on
        return index, f"{type(e).__name__}: {e}"


def run_batch(items: Sequence[BatchItem], options: TransformOptions = TransformOptions(), workers: int | None = None,
              engine: Literal["process", "ray"] = "process", on_item: Callable[[BatchItem, str], None] | None = None) -> BatchReport:
    """Runs every unfinished item; returns what was done, skipped and failed (with the errors)."""
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    report = BatchReport()
    todo = []
    for item in items:
        if _finished(item):
            report.skipped.append(item)
            if on_item:
                on_item(item, "already finished (skipped)")
        else:
            _clean_partials(item)
            todo.append(item)

    def record(item: BatchItem, error: str | None) -> None:
        if error is None:
            report.done.append(item)
        else:
            report.failed.append((item, error))
        if on_item:
            on_item(item, error or "done")

    if engine == "ray":
        try:
            import ray
        except ImportError as e:
            raise InputError("--engine ray needs Ray: pip install 'faceflt[ray]' (or ray)") from e
        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True)
        remote = ray.remote(_run_one)
        refs = {remote.remote(item, options): item for item in todo}
        try:
            for ref, item in refs.items():
                try:
                    ray.get(ref)
                    record(item, None)
                except Exception as e:  # noqa: BLE001 - a failing item is reported, the rest go on
                    record(item, f"{type(e).__name__}: {e}")
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref, force=True)
            _discard_unfinished(todo)
            raise BatchInterrupted(report, len(todo) - len(report.done) - len(report.failed)) from None
        return report
    if engine != "process":
        raise ValueError(f"engine must be 'process' or 'ray', got {engine!r}")
    if not todo:
        return report
    # A fork of a process where MediaPipe has run (a transform before the batch, in a notebook or a test session)
    # aborts inside MediaPipe, whose threads a fork does not copy: the workers then start from a fresh server process
    # instead, which (as with "spawn") imports the calling script again, so a script needs its `if __name__ == "__main__":`.
    context = multiprocessing.get_context("forkserver" if "mediapipe" in sys.modules else None)
    pool = context.Pool(min(workers or os.cpu_count() or 1, len(todo)), initializer=_ignore_interrupts)
    try:
        for index, error in pool.imap_unordered(_run_reporting, [(i, item, options) for i, item in enumerate(todo)]):
            record(todo[index], error)
        pool.close()
    except KeyboardInterrupt:
        pool.terminate()
        pool.join()
        _discard_unfinished(todo)
        raise BatchInterrupted(report, len(todo) - len(report.done) - len(report.failed)) from None
    finally:
        pool.terminate()
        pool.join()
    return report


def _discard_unfinished(items: Sequence[BatchItem]) -> None:
    """The temporary folders of items that did not finish (their workers were ended mid-way)."""
    for item in items:
        if not _finished(item):
            _clean_partials(item)
