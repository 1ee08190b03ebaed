"""Tests wait by polling to a deadline, never by fixed sleeps (CONTRACT §7).

A test that sleeps a fixed time to wait for something is slow when the machine is fast
and flaky when it is slow. So every non-zero ``sleep(`` in ``tests/`` must say, in a
comment on its line or the line above, which of the few legitimate kinds it is:

- ``poll``: the interval of a loop that checks a condition against a deadline;
- ``pace``: the rhythm of something the test plays (a camera's frames, a page's pings);
- ``window``: a measurement window, whose length is the thing measured;
- ``scenario``: the situation under test itself (a cell that computes for 5 s, a blackout).

Anything else is a wait for a condition and belongs in a polling helper
(``kernel/_browser.wait_for``/``until``, ``lab/jupyter.wait_for``).

Pure and fast: the sources are read as text, nothing is imported.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent

#: ``sleep(`` with an argument that is not a literal zero (``sleep(0)`` yields, it does not wait)
SLEEP = re.compile(r"\bsleep\((?!\s*0(?:\.0*)?\s*[,)])")
#: a definition or mention of a function called sleep, not a call that waits
NOT_A_CALL = re.compile(r"\bdef \w*sleep\(|_sleep\(|\btest_\w*sleep")
KINDS = ("poll", "pace", "window", "scenario")
REASON = re.compile(r"#.*\b(" + "|".join(KINDS) + r")\b", re.IGNORECASE)


def _sleeps() -> list[tuple[str, int, str, str]]:
    """(file, line number, line, the line above) of every non-zero sleep call in tests/."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == Path(__file__).name:
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if SLEEP.search(line) and not NOT_A_CALL.search(line):
                above = lines[i - 1] if i else ""
                found.append((str(path.relative_to(TESTS)), i + 1, line, above))
    return found


def test_every_sleep_in_the_tests_says_why_it_is_not_a_wait() -> None:
    found = _sleeps()
    assert len(found) > 10, "the scan found almost no sleeps: is SLEEP still matching?"
    unexplained = [
        f"{f}:{n}: {line.strip()}"
        for f, n, line, above in found
        if not (
            REASON.search(line)
            or REASON.search(above.strip() if above.strip().startswith("#") else "")
        )
    ]
    assert not unexplained, (
        "these sleeps do not say which kind they are (# poll / pace / window / scenario); "
        "if one waits for a condition, poll it to a deadline instead:\n" + "\n".join(unexplained)
    )


def test_the_scan_tells_a_wait_from_a_labelled_sleep() -> None:
    """The checker itself: an unlabelled sleep is caught, a labelled one and sleep(0) are not."""
    assert SLEEP.search("    time.sleep(0.5)")
    assert SLEEP.search("await asyncio.sleep(1.0)")
    assert SLEEP.search("time.sleep(max(0.0, due - now))")
    assert not SLEEP.search("await asyncio.sleep(0)")
    assert not SLEEP.search("asyncio.sleep(0, result=1)")
    assert REASON.search("time.sleep(0.02)  # poll interval")
    assert not REASON.search("time.sleep(0.02)  # give it time")
