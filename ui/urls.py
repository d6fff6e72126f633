"""How a page's settings travel between the URL and the session (`url_state`, `write_url`).

Query parameters are strings anyone can edit. Each page declares its settings as fields that
carry the widget's own bounds, so whatever a URL says, the value that reaches a widget or
torch is one the widget accepts: clamped to its range, a JS-safe integer, a known choice, at
most as many items as the widget allows, parsed from ASCII only."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

JS_MAX_INT = 2**53 - 1  # the largest integer a browser's number input holds exactly
SEED_MAX = 2**31 - 1
_KEPT_KEY = "url_state_kept"
_INT = re.compile(r"[+-]?[0-9]{1,30}")
_FLOAT = re.compile(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,3})?")
_TRUE, _FALSE = ("1", "true", "on", "yes"), ("0", "false", "off", "no")


def _number_text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _choice(choices: Sequence, text: str) -> Any | None:
    """The choice a URL text names: by its text, or by number for numeric choices ("2.0" is 2)."""
    text = text.strip()
    for choice in choices:
        if _number_text(choice) == text:
            return choice
    number = _parse_float(text)
    numeric = [c for c in choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
    return next((c for c in numeric if number is not None and c == number), None)


@dataclass(frozen=True)
class Field:
    """One page setting: its session key (the widget's key), its URL name and its default."""

    key: str
    param: str
    default: Any

    def parse(self, raw: str) -> Any | None:
        """The value a URL text stands for, within the widget's bounds; None when unusable."""
        raise NotImplementedError

    def encode(self, value: Any) -> str:
        return _number_text(value)


@dataclass(frozen=True)
class IntField(Field):
    """A whole number in [low, high]; out-of-range values are clamped, or folded into the
    range for seeds (any integer names some seed, and a seed is just a label)."""

    low: int = 0
    high: int = JS_MAX_INT
    fold: bool = False

    def parse(self, raw: str) -> int | None:
        if not _INT.fullmatch(raw.strip()):
            return None
        value = int(raw)
        if self.fold:
            return self.low + (value - self.low) % (self.high - self.low + 1)
        return min(max(value, self.low), self.high)


@dataclass(frozen=True)
class FloatField(Field):
    low: float = -math.inf
    high: float = math.inf

    def parse(self, raw: str) -> float | None:
        value = _parse_float(raw)
        return None if value is None else min(max(value, self.low), self.high)


def _parse_float(raw: str) -> float | None:
    raw = raw.strip()
    if not _FLOAT.fullmatch(raw):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class ChoiceField(Field):
    """One of a fixed list; older names in `aliases` still open the same view."""

    choices: tuple = ()
    aliases: tuple[tuple[str, Any], ...] = ()

    def parse(self, raw: str) -> Any | None:
        return dict(self.aliases).get(raw.strip(), _choice(self.choices, raw))


@dataclass(frozen=True)
class FlagField(Field):
    default: bool = False

    def parse(self, raw: str) -> bool | None:
        word = raw.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None

    def encode(self, value: Any) -> str:
        return "on" if value else "off"


@dataclass(frozen=True)
class ListField(Field):
    """Several of a fixed list (a multiselect): unknown items dropped, duplicates once, at most
    `max_count` kept, in the widget's order; `min_count` or more, or the default."""

    choices: tuple = ()
    max_count: int = 1_000
    min_count: int = 1

    def parse(self, raw: str) -> list | None:
        picked = {_choice(self.choices, part) for part in raw.split(",")}
        values = [c for c in self.choices if c in picked][: self.max_count]
        return values if len(values) >= self.min_count else None

    def encode(self, value: Any) -> str:
        return ",".join(_number_text(v) for v in value)


@dataclass(frozen=True)
class RangeField(ListField):
    """A (low, high) pair from a fixed list, for a range slider."""

    max_count: int = 2
    min_count: int = 2

    def parse(self, raw: str) -> tuple | None:  # type: ignore[override]
        values = super().parse(raw)
        return None if values is None else (values[0], values[-1])


@dataclass(frozen=True)
class FloatListField(Field):
    """Numbers for a row of sliders (logits, weights), each clamped to [low, high]; no more
    than max_count. Unparsable items make the whole list unusable, not a shifted one."""

    low: float = -math.inf
    high: float = math.inf
    max_count: int = 100

    def parse(self, raw: str) -> list[float] | None:
        parts = [p for p in raw.split(",") if p.strip()][: self.max_count]
        values = [_parse_float(p) for p in parts]
        if not values or any(v is None for v in values):
            return None
        return [min(max(float(v), self.low), self.high) for v in values if v is not None]

    def encode(self, value: Any) -> str:
        return ",".join(_number_text(float(v)) for v in value)


@dataclass(frozen=True)
class TextField(Field):
    """Free text matching a pattern (ASCII only), e.g. a latent code's digits."""

    pattern: str = ".*"

    def parse(self, raw: str) -> str | None:
        return raw if raw.isascii() and re.fullmatch(self.pattern, raw) else None


def url_value(field: Field) -> Any:
    """The field's value in the URL, or None when the URL has none that the widget accepts."""
    raw = st.query_params.get(field.param)
    return None if raw is None else field.parse(raw)


def initial_value(field: Field) -> Any:
    """The value a widget starts from: the URL's when usable, else this session's last, else
    the default. For widgets that must be given `value=` (a range slider takes its shape from
    it); every other widget is seeded through `url_state`."""
    value = url_value(field)
    return st.session_state.setdefault(_KEPT_KEY, {}).get(field.key, field.default) if value is None else value


def url_state(fields: Sequence[Field]) -> None:
    """Give each field missing from the session its value: from the URL when it holds a usable
    one, else this session's last value on the page, else the default.

    Runs on every render: Streamlit drops a widget's state when the widget is not drawn
    (another page, a slider beyond the current count), and query parameters are cleared on a
    page switch, so the last values are kept apart from the widgets."""
    for field in fields:
        if field.key not in st.session_state:
            st.session_state[field.key] = initial_value(field)


def write_url(fields: Sequence[Field]) -> None:
    """Mirror the fields' session values into the URL (a bookmark reopens this view)."""
    kept = st.session_state.setdefault(_KEPT_KEY, {})
    for field in fields:
        if field.key not in st.session_state:
            continue
        kept[field.key] = st.session_state[field.key]
        write_param(field, kept[field.key])


def write_param(field: Field, value: Any) -> None:
    """One value into the URL, for settings held outside a single session key."""
    text = field.encode(value)
    if st.query_params.get(field.param) != text:
        st.query_params[field.param] = text


def forget_url_state(fields: Sequence[Field]) -> None:
    """Drop the fields' session values, so the next url_state starts them afresh."""
    kept = st.session_state.setdefault(_KEPT_KEY, {})
    for field in fields:
        st.session_state.pop(field.key, None)
        kept.pop(field.key, None)
