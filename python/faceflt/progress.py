"""Progress on stderr for anything that takes seconds (tqdm's bar: count, rate, ETA); silent when disabled,
and the callers disable it where stderr is not a terminal."""

from __future__ import annotations

import os
import sys
import threading

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    def __init__(self, label: str, total: int | None, enabled: bool, unit: str = "frames") -> None:
        self.done = 0
        shown = enabled and sys.stderr.isatty()  # no carriage-return lines in a log file or a pipe
        # the bar writes to its own copy of the terminal, so that it still shows while a detector silences
        # its libraries' chatter on stderr (plugins.builtin.mediapipe_detector._quiet_stderr)
        self._out = os.fdopen(os.dup(sys.stderr.fileno()), "w") if shown else None
        try:  # a terminal that reports no width (a pseudo-terminal never sized) would get a bar of 0 columns: nothing
            sized = shown and os.get_terminal_size(self._out.fileno()).columns > 0
        except OSError:
            sized = False
        self._bar = tqdm(total=total, desc=label, unit=" " + unit, disable=not shown, file=self._out or sys.stderr,
                         dynamic_ncols=sized, ncols=None if sized else 80, leave=False)
        self._lock = threading.Lock()

    def step(self, n: int = 1) -> None:
        """n more done; safe to call from several threads."""
        with self._lock:
            self.done += n
            self._bar.update(n)

    def close(self) -> None:
        self._bar.close()
        if self._out is not None:
            self._out.close()
            self._out = None
