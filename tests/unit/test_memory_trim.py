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
        self.executed: list[tuple[Any, tuple[Any, ...]]] = []

    def is_closed(self) -> bool:
        return False

    def call_later(self, delay: float, fn: Any, *args: Any) -> _Handle:
        handle = _Handle()
        self.timers.append((delay, fn, args, handle))
        return handle

    def run_in_executor(self, _executor: Any, fn: Any, *args: Any) -> None:
        self.executed.append((fn, args))

    def fire(self) -> None:
        """Run every timer not cancelled, then what they handed to the executor."""
        for _delay, fn, args, handle in self.timers:
            if not handle.cancelled():
                fn(*args)
        for fn, args in self.executed:
            fn(*args)


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


def test_switched_off_does_nothing(monkeypatch: Any) -> None:
    loop = _Loop()
    monkeypatch.setattr(_memory, "ENABLED", False)
    _memory.Trimmer(lambda pad: 1, idle=lambda: True).stream_closed(loop)  # type: ignore[arg-type]
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


def _recording(order: list[str], idle: Any = lambda: True) -> _memory.Trimmer:
    """A trimmer whose trim and collection append "trim" / "collect" to ``order``."""
    return _memory.Trimmer(
        lambda pad: order.append("trim") or 1,
        idle=idle,
        collect=lambda: order.append("collect"),
    )


def test_with_no_stream_left_a_full_collection_runs_before_the_trim() -> None:
    order: list[str] = []
    trimmer = _recording(order)
    loop = _Loop()
    trimmer.stream_closed(loop)  # type: ignore[arg-type]
    assert order == [], "nothing runs on the media loop itself"
    loop.fire()
    assert order == ["collect", "trim"]
    assert trimmer.collections == 1 and trimmer.trims == 1
    assert trimmer.last_collect_seconds >= 0.0


def test_while_a_stream_is_open_nothing_is_collected() -> None:
    order: list[str] = []
    streams = ["s1"]
    trimmer = _recording(order, idle=lambda: not streams)
    loop = _Loop()
    trimmer.stream_closed(loop)  # type: ignore[arg-type]
    loop.fire()
    assert order == ["trim"] and trimmer.collections == 0
    # the last stream closed meanwhile: the next job collects (idle is read when it runs)
    streams.clear()
    later = _Loop()
    trimmer.stream_closed(later)  # type: ignore[arg-type]
    later.fire()
    assert order == ["trim", "collect", "trim"] and trimmer.collections == 1


def test_without_malloc_trim_the_idle_collection_still_runs(monkeypatch: Any) -> None:
    collected: list[int] = []
    loop = _Loop()
    trimmer = _memory.Trimmer(None, idle=lambda: True, collect=lambda: collected.append(1))
    trimmer.stream_closed(loop)  # type: ignore[arg-type]
    loop.fire()
    assert collected == [1] and trimmer.trims == 0
    # switched off, with no trim either: nothing is even scheduled
    monkeypatch.setattr(_memory, "COLLECT", False)
    other = _Loop()
    _memory.Trimmer(None, idle=lambda: True, collect=lambda: collected.append(2)).stream_closed(
        other  # type: ignore[arg-type]
    )
    assert other.timers == []


def test_collect_switched_off_leaves_collections_to_python(monkeypatch: Any) -> None:
    monkeypatch.setattr(_memory, "COLLECT", False)
    order: list[str] = []
    trimmer = _recording(order)
    loop = _Loop()
    trimmer.stream_closed(loop)  # type: ignore[arg-type]
    loop.fire()
    assert order == ["trim"]


def test_a_failing_collection_is_only_logged_and_the_trim_still_runs() -> None:
    def broken() -> None:
        raise RuntimeError("no")

    calls: list[int] = []
    trimmer = _memory.Trimmer(lambda pad: calls.append(pad) or 1, idle=lambda: True, collect=broken)
    trimmer._run(True)
    assert trimmer.collections == 0 and calls == [0] and trimmer.trims == 1


def test_a_job_left_on_a_stopped_loop_does_not_block_the_next_loop() -> None:
    # the media thread restarted (a new loop implementation, a shutdown) with a job
    # pending: the old loop never runs it, and closes on the new loop must still trim
    calls: list[int] = []
    trimmer = _memory.Trimmer(lambda pad: calls.append(pad) or 1)
    old, new = _Loop(), _Loop()
    trimmer.stream_closed(old)  # type: ignore[arg-type]
    trimmer.stream_closed(new)  # type: ignore[arg-type]
    trimmer.stream_closed(new)  # type: ignore[arg-type]
    assert len(new.timers) == 1, "one job on the new loop"
    new.fire()
    assert calls == [0] and trimmer.trims == 1


def test_idle_collections_take_at_most_a_tenth_of_the_kernels_time() -> None:
    # a huge heap: each collection takes 2 s (the test's clock), so one every 20 s at most
    now = [100.0]

    def slow_collect() -> None:
        now[0] += 2.0

    trimmer = _memory.Trimmer(
        lambda pad: 1, idle=lambda: True, collect=slow_collect, clock=lambda: now[0]
    )

    def job() -> None:
        loop = _Loop()
        trimmer.stream_closed(loop)  # type: ignore[arg-type]
        loop.fire()

    job()
    assert trimmer.collections == 1 and trimmer.last_collect_seconds == 2.0
    now[0] += 10.0  # 12 s after the first began
    job()
    assert trimmer.collections == 1 and trimmer.trims == 2, "trimmed, not collected"
    now[0] += 8.0  # 20 s after
    job()
    assert trimmer.collections == 2
