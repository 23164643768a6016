"""Decoding ahead in a thread: the same frames in the same order, errors where they happened, a bounded hold,
nothing decoded past max_frames, and the thread gone once the consumer stops."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from faceflt.errors import InputError
from faceflt.io import ReadAhead, open_frames

from conftest import SHARED, require

FRAME = np.zeros((10, 10, 3), np.uint8)  # 300 bytes


class Source:
    """Frames 0..n-1, recording which were made and whether it was closed; raises at ``fail_at``."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.made, self.closed = n, fail_at, [], False

    def __iter__(self):
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise InputError(f"frame {i} is damaged")
                self.made.append(i)
                yield i, FRAME + i
        finally:
            self.closed = True


def _threads() -> int:
    return sum(t.name == "faceflt-read-ahead" for t in threading.enumerate())


def test_the_same_frames_in_order_and_the_source_closed():
    source = Source(50)
    ahead = ReadAhead(source, max_bytes=1000)
    # an iterator, not a generator: nothing of it is left to clean up later if its consumer is interrupted
    assert iter(ahead) is ahead
    got = list(ahead)
    assert [i for i, _ in got] == list(range(50))
    assert all(frame[0, 0, 0] == i for i, frame in got)
    assert source.closed and _threads() == 0


def test_an_error_comes_after_the_frames_before_it():
    got = []
    with pytest.raises(InputError, match="frame 7 is damaged"):
        for index, _ in ReadAhead(Source(20, fail_at=7), max_bytes=10_000):
            got.append(index)
    assert got == list(range(7))


def test_it_holds_at_most_max_bytes_ahead_and_stops_at_max_frames():
    source = Source(1000)
    ahead = ReadAhead(source, max_bytes=3 * FRAME.nbytes, stop_at=20)
    time.sleep(0.2)  # time enough to decode everything, were it not bounded
    assert len(source.made) <= 4  # three held, one waiting for room
    assert [i for i, _ in ahead] == list(range(20))
    assert max(source.made) <= 20 and source.closed


def test_closing_early_stops_the_thread():
    source = Source(10**6)
    ahead = ReadAhead(source, max_bytes=5 * FRAME.nbytes)
    for index, _ in ahead:
        if index == 3:
            break
    ahead.close()
    assert source.closed and _threads() == 0 and len(source.made) < 20


def test_a_real_video_reads_the_same_ahead():
    video = require(SHARED / "data" / "videos" / "liveportrait_d12.mp4", "liveportrait_d12.mp4")
    plain = [(i, f) for i, f in open_frames(video) if i < 30]
    ahead = list(ReadAhead(open_frames(video), max_bytes=8 << 20, stop_at=30))
    assert [i for i, _ in ahead] == [i for i, _ in plain]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ahead, plain))


class Broken:
    """A source whose iteration fails before the first frame, or whose close() fails."""

    def __init__(self, where: str) -> None:
        self.where, self.index = where, -1

    def __iter__(self):
        if self.where == "iter":
            raise OSError("cannot open")
        return self

    def __next__(self):
        self.index += 1
        return self.index, FRAME

    def close(self):
        raise OSError("cannot close")


@pytest.mark.parametrize("where", ["iter", "close"])
def test_a_source_that_fails_to_start_or_to_close_raises_instead_of_hanging(where):
    ahead = ReadAhead(Broken(where), max_bytes=3 * FRAME.nbytes, stop_at=5)
    with pytest.raises(OSError, match=f"cannot {'open' if where == 'iter' else 'close'}"):
        for _ in ahead:
            pass
    assert _threads() == 0


def test_a_second_pass_finds_nothing_and_a_pass_after_close_is_refused():
    ahead = ReadAhead(Source(3), max_bytes=1000)
    assert len(list(ahead)) == 3 and list(ahead) == []
    closed = ReadAhead(Source(3), max_bytes=1000)
    closed.close()
    with pytest.raises(RuntimeError, match="after close"):
        list(closed)


def test_closing_from_another_thread_wakes_a_waiting_consumer():
    class Slow:
        def __iter__(self):
            yield 0, FRAME
            time.sleep(1.0)  # a slow frame
            yield 1, FRAME

    ahead = ReadAhead(Slow(), max_bytes=1000)
    got = []
    consumer = threading.Thread(target=lambda: got.extend(i for i, _ in ahead))
    consumer.start()
    time.sleep(0.2)
    started = time.perf_counter()
    ahead.close()  # from this thread, while the consumer waits for frame 1
    consumer.join(timeout=5)
    assert not consumer.is_alive() and got == [0] and time.perf_counter() - started < 3
    assert _threads() == 0
