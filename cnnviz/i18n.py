"""Translated text: the French and English catalogues, and numbers written the way each language writes them.

The catalogues are gettext .po files under locales/<lang>/<domain>.po (one domain per screen, plus
"common", "errors" and "figures"), read with Babel. Message ids are symbolic ("conv.title",
"err.grid_not_number"), so the English text can change without touching the code, and the tests can check
that every id the code uses exists in both catalogues. Texts use str.format placeholders; numbers in them
are formatted for the language by Babel:

    tr("fr", "fig.accuracy", acc=0.9323)   # "Exactitude : 93,2 %" with {acc:.1%}
    tr("fr", "x", n=1234)                   # "1 234" (a plain int is grouped)

A parameter written "@some.id", or a `Msg("some.id", **params)`, is itself translated (a grid's name...).
"""

from __future__ import annotations

import math
import string
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent, get_decimal_symbol, get_group_symbol, get_minus_sign_symbol

LOCALES = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = {"fr": "Français", "en": "English"}
FALLBACK = "en"


class Msg:
    """A message id with its parameters, translated later, once the reader's language is known."""

    __slots__ = ("id", "params")

    def __init__(self, msg_id: str, **params):
        self.id, self.params = msg_id, params

    def __repr__(self) -> str:
        return f"Msg({self.id!r}, **{self.params!r})"


def normalize(lang: str | None) -> str | None:
    """'fr-FR', 'fr_CA', 'FR' -> 'fr'; anything that is not one of ours -> None."""
    if not isinstance(lang, str):
        return None
    code = lang.strip().replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else None


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    """Every message of one language: id -> text, from all its .po files (read once per process)."""
    messages: dict[str, str] = {}
    for path in sorted((LOCALES / lang).glob("*.po")):
        with open(path, "rb") as f:
            for msg in read_po(f, locale=lang):
                if msg.id and isinstance(msg.id, str):
                    if msg.id in messages:
                        raise ValueError(f"{path}: message id {msg.id!r} is defined twice")
                    messages[msg.id] = msg.string or ""
    return messages


def domains(lang: str) -> dict[str, set[str]]:
    """domain -> its message ids (for the checks that keep the catalogues in step)."""
    out = {}
    for path in sorted((LOCALES / lang).glob("*.po")):
        with open(path, "rb") as f:
            out[path.stem] = {m.id for m in read_po(f, locale=lang) if m.id and isinstance(m.id, str)}
    return out


class _LocaleFormatter(string.Formatter):
    """str.format whose numbers follow the language: decimal comma, grouped thousands, '93,2 %'."""

    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang

    def format_field(self, value, spec: str):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or hasattr(value, "shape"):
            return super().format_field(value, spec)
        value = value.item() if hasattr(value, "item") else value
        return format_number(self.lang, value, spec)


@lru_cache(maxsize=16)
def _locale(lang: str) -> Locale:
    """One Babel Locale per language: a new one would load its locale data again (a figure formats hundreds of
    numbers)."""
    return Locale.parse(lang)


def format_number(lang: str, value, spec: str = "") -> str:
    """One number in the language's notation; `spec` is a Python format spec ('', ',', 'd', '.2f', '.1%', '.3g')."""
    loc = _locale(lang)
    body = spec.lstrip(",")
    if body.endswith("%"):
        digits = int(body[1:-1]) if body.startswith(".") and body[1:-1].isdigit() else 0
        pattern = loc.percent_formats[None].pattern  # "#,##0 %" in French, "#,##0%" in English
        return format_percent(value, format=pattern.replace("0", "0" + ("." + "0" * digits if digits else ""), 1)
                              if "0" in pattern else None, locale=loc)
    if body.startswith(".") and body.endswith("f") and body[1:-1].isdigit():
        digits = int(body[1:-1])
        return format_decimal(value, format="#,##0" + ("." + "0" * digits if digits else ""), locale=loc)
    if body in ("", "d", "n"):
        if isinstance(value, int) and abs(value) >= 10**15:  # Babel's decimals stop at 28 digits (a forged 10**30)
            return f"{value:,}".translate(_symbols(lang))
        if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
            return format_decimal(int(value), format="#,##0", locale=loc)
        return format_decimal(value, format="#,##0.###", locale=loc)
    # anything else ('.3g', '+.2f', '>5'...): Python's notation with the language's decimal sign
    return format(value, spec).replace(".", get_decimal_symbol(loc))


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_power(lang: str, value, digits: int = 2) -> str:
    """A large or tiny number as mantissa × 10ⁿ, the way both languages print it ('7,5 × 10¹¹' in French),
    never '7.50e+11'; numbers from 0.01 to 10 000 as format_number writes them."""
    v = float(value)
    if v == 0 or not math.isfinite(v) or 1e-2 <= abs(v) < 1e4:
        return format_number(lang, v)
    exponent = math.floor(math.log10(abs(v)))
    mantissa = round(v / 10 ** exponent, digits - 1)
    if abs(mantissa) >= 10:  # 9.96e11 rounds to 10 × 10¹¹
        mantissa, exponent = mantissa / 10, exponent + 1
    head = "" if mantissa == 1 else format_number(lang, mantissa) + " × "
    return f"{head}10{str(exponent).translate(_SUPERSCRIPTS)}"


_THOUSANDTH = Decimal("0.001")


@lru_cache(maxsize=16)
def _symbols(lang: str) -> dict:
    loc = _locale(lang)
    return str.maketrans({",": get_group_symbol(loc), ".": get_decimal_symbol(loc), "-": get_minus_sign_symbol(loc)})


def format_numbers(lang: str, values) -> list[str]:
    """[format_number(lang, v) for v in values], written without Babel's per-number cost (15 µs): a map's hover
    texts are hundreds of numbers. Same rules: integers grouped, others to 3 decimals rounded half-even from their
    shortest decimal form, trailing zeros dropped (tests/test_i18n.py compares the two on many values)."""
    symbols = _symbols(lang)
    out = []
    for value in values:
        v = float(value)
        if not math.isfinite(v):
            out.append(format_number(lang, v))
            continue
        if v.is_integer() and abs(v) < 1e15:
            text = f"{int(v):,}"
        else:
            whole, _, frac = f"{Decimal(str(value)).quantize(_THOUSANDTH):,f}".partition(".")  # as Babel
            frac = frac.rstrip("0")
            text = whole + ("." + frac if frac else "")
        out.append(text.translate(symbols))
    return out


def tr(lang: str, msg_id: str, **params) -> str:
    """The text of `msg_id` in `lang` (English when the language lacks it), placeholders filled."""
    lang = normalize(lang) or FALLBACK
    text = catalogue(lang).get(msg_id) or catalogue(FALLBACK).get(msg_id)
    if text is None:  # a missing id is a bug the tests catch; a reader sees the id, never a crash
        return msg_id
    if not params:
        return text
    params = {k: _nested(lang, v) for k, v in params.items()}
    try:
        return _LocaleFormatter(lang).vformat(text, (), params)
    except (KeyError, IndexError, ValueError):
        return text


def _nested(lang: str, value):
    if isinstance(value, Msg):
        return tr(lang, value.id, **value.params)
    if isinstance(value, str) and value.startswith("@"):
        return tr(lang, value[1:])
    return value


def translator(lang: str):
    """A one-argument-plus-params function bound to `lang`: t = translator("fr"); t("conv.title")."""
    def t(msg_id: str, **params) -> str:
        return tr(lang, msg_id, **params)

    t.lang = normalize(lang) or FALLBACK
    return t
