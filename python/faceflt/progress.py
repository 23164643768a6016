"""A one-line progress report on stderr for anything that takes seconds (frames done, rate, ETA)."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    def __init__(self, label: str, total: int | None, enabled: bool, unit: str = "frames") -> None:
        self.label, self.total, self.enabled, self.unit = label, total, enabled, unit
        self.start = time.perf_counter()
        self.done = 0

    def step(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total} {self.unit}, {rate:5.1f} {self.unit}/s, ETA {eta:4.0f} s ")
        else:
            sys.stderr.write(f"\r{self.label}: {self.done} {self.unit}, {rate:5.1f} {self.unit}/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
