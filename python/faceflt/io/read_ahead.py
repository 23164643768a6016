"""Decoding ahead of the consumer, in a thread of its own.

The consumer of a video's frames is busy with other things first (loading a detector's models, fitting the reference
picture) and then in bursts (a tracking detector takes the frames a chunk at a time). Meanwhile a core is idle, and
decoding happens mostly outside the GIL (FFmpeg, OpenCV). :class:`ReadAhead` keeps up to ``max_bytes`` of decoded
frames ready, so the decoding overlaps that work instead of following it."""

from __future__ import annotations

import threading
from collections import deque
from typing import Iterable, Iterator

import numpy as np

__all__ = ["ReadAhead"]

_END = object()


class ReadAhead:
    """Iterate for the (index, frame) pairs of ``frames``, in order, decoded in a thread up to ``max_bytes`` ahead
    (at least one frame). ``stop_at``: no frame of this index or later is decoded (the job's max_frames). An error
    while decoding is raised to the consumer where it happened, after the frames before it. ``close()`` (or leaving a
    ``with`` block) stops the thread, and a consumer waiting then stops too; iterating to the end, or to an error, closes
    it. One consumer, one pass (a second pass finds nothing, as with any iterator); iterating after ``close()`` raises
    RuntimeError."""

    def __init__(self, frames: Iterable[tuple[int, np.ndarray]], max_bytes: int, stop_at: int | None = None) -> None:
        self._frames, self._max_bytes, self._stop_at = frames, max_bytes, stop_at
        self._items: deque = deque()
        self._held = 0
        self._closed = False
        self._started = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._decode, name="faceflt-read-ahead", daemon=True)
        self._thread.start()

    def _put(self, item, nbytes: int) -> bool:
        with self._ready:
            while self._items and self._held + nbytes > self._max_bytes and not self._closed:
                self._ready.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._held += nbytes
            self._ready.notify_all()
            return True

    def _decode(self) -> None:
        end: object = _END
        try:
            frames = iter(self._frames)
            try:
                for index, frame in frames:
                    if self._stop_at is not None and index >= self._stop_at:
                        break
                    if not self._put((index, frame), frame.nbytes):
                        break
            finally:
                close = getattr(frames, "close", None)
                if close is not None:
                    close()  # the video's container, here in the thread that iterates it
        except BaseException as e:  # raised to the consumer in its turn
            end = e
        finally:
            self._put(end, 0)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if self._closed and not self._started:
            raise RuntimeError("a ReadAhead cannot be iterated after close()")
        self._started = True
        return self

    def __next__(self) -> tuple[int, np.ndarray]:
        # an iterator, not a generator: a consumer that stops early (Ctrl-C) leaves no generator whose clean-up would
        # run later, where a second interrupt could only be reported as ignored; whoever made it closes it
        with self._ready:
            while not self._items and not self._closed:
                self._ready.wait()
            if not self._items:  # closed (by another thread, or after the end)
                raise StopIteration
            item = self._items.popleft()
            if item is not _END and not isinstance(item, BaseException):
                self._held -= item[1].nbytes
            self._ready.notify_all()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        """Stops the decoding thread and lets go of the frames it holds."""
        with self._ready:
            self._closed = True
            self._items.clear()
            self._held = 0
            self._ready.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
