"""After streams close, one malloc_trim runs (``_memory.Trimmer``), off the media loop."""

from __future__ import annotations

from typing import Any

from nbrtc import _memory


class _Handle:
    def __init__(self) -> None:
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class _Loop:
    """What the trimmer asks of the media loop, recorded (no thread, no real timer)."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, Any, tuple[Any, ...], _Handle]] = []
        self.executed: list[Any] = []

    def is_closed(self) -> bool:
        return False

    def call_later(self, delay: float, fn: Any, *args: Any) -> _Handle:
        handle = _Handle()
        self.timers.append((delay, fn, args, handle))
        return handle

    def run_in_executor(self, _executor: Any, fn: Any) -> None:
        self.executed.append(fn)

    def fire(self) -> None:
        """Run every timer not cancelled, then what they handed to the executor."""
        for _delay, fn, args, handle in self.timers:
            if not handle.cancelled():
                fn(*args)
        for fn in self.executed:
            fn()


def test_a_burst_of_closes_makes_one_trim_after_the_last() -> None:
    calls: list[int] = []
    trimmer = _memory.Trimmer(lambda pad: calls.append(pad) or 1)
    loop = _Loop()
    for _ in range(5):
        trimmer.stream_closed(loop)  # type: ignore[arg-type]
    assert [d for d, *_ in loop.timers] == [_memory.TRIM_DELAY], "one pending trim"
    assert calls == [], "nothing runs on the media loop itself"
    loop.fire()
    assert calls == [0] and trimmer.trims == 1
    trimmer.stream_closed(loop)  # type: ignore[arg-type]
    assert len(loop.timers) == 2, "a close after the trim ran schedules the next"


def test_no_malloc_trim_or_switched_off_does_nothing(monkeypatch: Any) -> None:
    loop = _Loop()
    _memory.Trimmer(None).stream_closed(loop)  # type: ignore[arg-type]
    monkeypatch.setattr(_memory, "ENABLED", False)
    _memory.Trimmer(lambda pad: 1).stream_closed(loop)  # type: ignore[arg-type]
    assert loop.timers == []


def test_a_failing_trim_is_only_logged() -> None:
    def broken(_pad: int) -> int:
        raise OSError("no")

    trimmer = _memory.Trimmer(broken)
    trimmer._run()
    assert trimmer.trims == 0


def test_glibc_has_it_here() -> None:
    # these machines run glibc: the real function is found (elsewhere it may be None)
    assert _memory._malloc_trim is not None
    assert _memory._malloc_trim(0) in (0, 1)
