"""Argument checks shared by widgets and sources: each error names the argument. Also
the one shape check that the page's validators share (:func:`is_one_of`)."""

from __future__ import annotations

from typing import Any, Literal, overload


@overload
def dimension(
    name: str, value: Any, *, optional: Literal[False] = False, even: bool = False
) -> int: ...
@overload
def dimension(name: str, value: Any, *, optional: bool, even: bool = False) -> int | None: ...
def dimension(name: str, value: Any, *, optional: bool = False, even: bool = False) -> int | None:
    """A frame width/height in 16..4096 (``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 4096:
        extra = " (or None)" if optional else ""
        raise ValueError(f"{name} must be an integer between 16 and 4096{extra}, got {value!r}")
    if even and value % 2:
        raise ValueError(f"{name} must be even (video encoders need it), got {value}")
    return value


@overload
def rate(name: str, value: Any, *, optional: Literal[False] = False) -> float: ...
@overload
def rate(name: str, value: Any, *, optional: bool) -> float | None: ...
def rate(name: str, value: Any, *, optional: bool = False) -> float | None:
    """A frame rate in (0, 120] (``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 120:
        extra = " (or None)" if optional else ""
        raise ValueError(f"{name} must be a number in (0, 120]{extra}, got {value!r}")
    return float(value)


def is_one_of(value: Any, names: frozenset[str]) -> bool:
    """Whether a page's ``value`` is one of ``names``. Never raises: a list or an object
    from JSON is unhashable, and ``value in names`` would raise TypeError on it."""
    return isinstance(value, str) and value in names
