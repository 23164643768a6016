"""Progress on stderr for anything that takes seconds (tqdm's bar: count, rate, ETA); silent when disabled,
and the callers disable it where stderr is not a terminal."""

from __future__ import annotations

import sys

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    def __init__(self, label: str, total: int | None, enabled: bool, unit: str = "frames") -> None:
        self.done = 0
        shown = enabled and sys.stderr.isatty()  # no carriage-return lines in a log file or a pipe
        self._bar = tqdm(total=total, desc=label, unit=" " + unit, disable=not shown, file=sys.stderr, dynamic_ncols=True,
                         leave=False)


    def step(self, n: int = 1) -> None:
        self.done += n
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()
