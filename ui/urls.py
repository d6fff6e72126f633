"""Settings in the URL. Widgets bind to it themselves (`**BOUND`: a key is its parameter's name,
values the widget cannot take are dropped, defaults left out). What the binding lacks is here:
numbers beyond a widget's range are clamped, not dropped, and a non-finite one never reaches a
whole-number widget (Streamlit 1.67 stops the page on `?seed=inf`); today's bookmarks (short
names, lists joined by commas, old words) are rewritten before the page runs again; a row of
sliders as long as another setting says is kept in one parameter by hand, and so is what
a browser component holds (a code, its τ and noise seed)."""

import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

SEED_MAX = 2**31 - 1
BOUND: dict[str, Any] = {"bind": "query-params", "persist_state": "session"}
ON_OFF = {"1": True, "on": True, "yes": True, "0": False, "off": False, "no": False}


def number(text: str) -> float | None:
    with suppress(ValueError):
        return float(text)
    return None


@dataclass(frozen=True)
class Param:
    """A bound widget's parameter: its key, its name in older bookmarks, and its range or its
    options with the format_func that names them in the URL (a list's names hold no comma; a
    number's name is its `{:g}`, as bookmarks wrote it)."""

    key: str
    old: str = ""
    low: float = -math.inf
    high: float = math.inf
    options: Sequence[Any] = ()
    label: Callable[[Any], str] = str
    aliases: Mapping[str, Any] = field(default_factory=dict)
    many: bool = False

    def rewrite(self, texts: list[str]) -> list[str]:
        """The texts as the widget reads them (a list's in the widget's order); what it cannot
        read is left for the binding to drop."""
        if self.options:
            parts = [part for text in texts for part in text.split(",")] if self.many else texts[-1:]
            picked = [self.option(part.strip()) for part in parts]
            labels = [self.label(o) for o in self.options if o in picked]
            return labels if labels or self.many else texts[-1:]
        value = number(texts[-1])
        if value is None or not math.isfinite(value):
            return texts[-1:] if value is None else []
        kept = min(max(value, self.low), self.high)
        return texts[-1:] if kept == value else [str(kept)]

    def option(self, word: str) -> Any:
        return next((o for o in self.options if word in (str(o), self.label(o))), self.aliases.get(word))


def switch(key: str, old: str = "") -> Param:
    return Param(key, old, options=(True, False), label=lambda on: str(on).lower(), aliases=ON_OFF)


def open_bookmark(params: Sequence[Param]) -> None:
    """Rewrite what the page's widgets could not read, before they read it, and run the page again."""
    query, changed = st.query_params, False
    for param in params:
        name = param.old if param.old in query and param.key not in query else param.key
        if name in query and param.key not in st.session_state:  # once drawn, a widget keeps its own value
            texts = param.rewrite(query.get_all(name))
            if (name, texts) != (param.key, query.get_all(name)):
                del query[name]
                query.update({param.key: texts} if texts else {})
                changed = True
    if changed:
        st.rerun()


def first(param: Param, default: Any) -> Any:
    """A setting's value before its widget is drawn this run (a page run alone has no sidebar)."""
    if param.key in st.session_state:
        return st.session_state[param.key]
    texts = st.query_params.get_all(param.key)
    found = [param.option(t) if param.options else number(t) for t in param.rewrite(texts)] if texts else []
    return default if not found or found[-1] is None else type(default)(found[-1])


def numbers(name: str, low: float, high: float, most: int) -> list[float]:
    """A list kept by hand, each number clamped into [low, high]; none if one is not a number."""
    values = [number(part) for part in st.query_params.get(name, "").split(",") if part.strip()][:most]
    if any(v is None or not math.isfinite(v) for v in values):
        return []
    return [min(max(v, low), high) for v in values if v is not None]


def kept_number(name: str, low: float, high: float, default: float) -> float:
    """One number kept by hand (a browser component's setting), clamped; the default if none."""
    found = numbers(name, low, high, 1)
    return found[0] if found else default


def keep_numbers(name: str, values: Sequence[float]) -> None:
    """Write a list kept by hand; whole numbers in full (a seed), others as their `{:g}`."""
    text = ",".join(str(int(v)) if float(v).is_integer() else f"{v:g}" for v in values)
    if st.query_params.get(name) != text:
        st.query_params[name] = text
