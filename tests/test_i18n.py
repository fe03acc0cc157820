"""French and English: the catalogues hold the same ids, the code uses exactly those ids, every screen reads in
French, numbers are written the French way, and errors raised by cnnviz carry an id and its parameters."""

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

from cnnviz import CnnvizError
from cnnviz.i18n import LANGUAGES, Msg, catalogue, domains, format_number, format_numbers, tr
from tests.apptest import app
from ui.screens import SCREENS

ROOT = Path(__file__).resolve().parent.parent
CODE = [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "pages").glob("*.py")),
        *sorted((ROOT / "cnnviz").rglob("*.py"))]  # cnnviz/explain/ is a package
ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def string_literals() -> set[str]:
    """Every string constant in the app's code ("@id" counts as the id)."""
    out = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value[1:] if node.value.startswith("@") else node.value)
    return out


def test_both_languages_hold_the_same_ids_in_the_same_files():
    en, fr = domains("en"), domains("fr")
    assert en.keys() == fr.keys()
    for domain in en:
        assert en[domain] == fr[domain], (domain, en[domain] ^ fr[domain])
    for lang in LANGUAGES:
        empty = [k for k, v in catalogue(lang).items() if not v.strip()]
        assert not empty, (lang, empty)


def test_every_id_used_exists_and_every_entry_is_used():
    ids = set(catalogue("en"))
    namespaces = {i.split(".")[0] for i in ids}
    literals = string_literals()
    used = {s for s in literals if ID.match(s) and s.split(".")[0] in namespaces}
    missing = sorted(used - ids)
    assert not missing, f"ids used in the code but missing from the catalogues: {missing}"
    unused = sorted(ids - literals)
    assert not unused, f"catalogue entries no code uses: {unused}"


def test_translated_calls_use_literal_ids():
    """t(f"...{x}") would hide an id from the checks above: option labels go through dicts of literal ids."""
    offenders = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("t", "tr"):
                args = node.args[1:] if getattr(node.func, "id", "") == "tr" else node.args
                if args and isinstance(args[0], ast.JoinedStr):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def test_placeholders_match_between_languages():
    field = re.compile(r"(?<!\{)\{([a-z_0-9]+)[^}]*\}(?!\})")
    for msg_id, en_text in catalogue("en").items():
        fr_text = catalogue("fr")[msg_id]
        assert set(field.findall(en_text)) == set(field.findall(fr_text)), msg_id


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_many_numbers_are_written_as_babel_writes_each(lang):
    """format_numbers (hover texts of whole maps) is format_number without Babel's per-number cost: the same
    text for every value, ties rounded half-even from the shortest decimal form included."""
    rng = np.random.default_rng(7)
    values = [*rng.normal(0, 1, 4000), *rng.normal(0, 1e5, 1000), *np.round(rng.normal(0, 10, 1000), 4),
              *rng.normal(0, 1, 1000).astype(np.float32), *rng.integers(-10**7, 10**7, 500),
              0.0005, -0.0005, 0.0015, 2.675, -2.675, 1e15, 1e16, -1e20, 1234567.0005, -0.0, 0.0, 5e-7, -5e-7,
              float("nan"), float("inf"), float("-inf")]
    assert format_numbers(lang, values) == [format_number(lang, v) for v in values]


def test_numbers_are_written_the_french_way():
    assert format_number("fr", 0.9323, ".1%") == "93,2\u00a0%"
    assert format_number("en", 0.9323, ".1%") == "93.2%"
    assert format_number("fr", 1234).replace("\u202f", " ") == "1 234"
    assert format_number("en", 1234) == "1,234"
    assert format_number("fr", 2.5) == "2,5"
    assert format_number("fr", 0.001234, ".3g") == "0,00123"


def test_errors_carry_an_id_and_are_worded_in_each_language():
    from cnnviz.ops import parse_grid

    with pytest.raises(CnnvizError) as info:
        parse_grid("1 2\n3 abc", "@grid.input")
    exc = info.value
    assert exc.code == "err.grid_not_number" and exc.params["row"] == 2 and exc.params["col"] == 2
    assert str(exc) == "Input, row 2, column 2: “abc” is not a number."
    assert exc.message("fr") == "Entrée, ligne 2, colonne 2\u00a0: «\u00a0abc\u00a0» n'est pas un nombre."
    assert tr("fr", "err.grid_not_number", name=Msg("grid.filter_channel", f=1, c=3), row=1, col=1, cell="x") \
        .startswith("Filtre 1, canal 3, ligne 1")


def rendered_text(at) -> str:
    """Everything a reader sees on an AppTest page: text elements, widget labels, options, chart texts."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success",
                 "toast", "metric"):
        for el in getattr(at, kind, []):
            parts.append(str(getattr(el, "value", "")))
            parts.append(str(getattr(el, "label", "") or ""))
    for kind in ("button", "selectbox", "radio", "slider", "number_input", "text_area", "text_input", "toggle",
                 "checkbox", "multiselect", "select_slider"):
        for el in getattr(at, kind, []):
            parts.append(str(el.label or ""))
            parts.append(str(getattr(el.proto, "help", "") or ""))
            parts.extend(str(o) for o in getattr(el, "options", []) or [])
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        layout = spec.get("layout", {})
        texts = [json.dumps(layout.get(k, "")) for k in ("title", "annotations", "xaxis", "yaxis", "updatemenus")]
        texts += [str(trace.get("name", "")) for trace in spec.get("data", [])]
        parts.extend(texts)
    for el in at.get("expander"):
        parts.append(str(el.proto.label))
    return "\n".join(parts)


def english_sentences() -> list[str]:
    """Pieces of English catalogue texts (split at placeholders and Markdown) of 4 words or more that the
    French catalogue does not share."""
    fr_texts = "\n".join(catalogue("fr").values())
    pieces = set()
    for text in catalogue("en").values():
        for piece in re.split(r"\{[^}]*\}|\*\*|\n|`|\$[^$]*\$|[—:;()]", text):
            piece = piece.strip(" .,!?·–-")
            if len(piece.split()) >= 4 and piece not in fr_texts:
                pieces.add(piece)
    return sorted(pieces)


@pytest.mark.parametrize("screen", [s for s in SCREENS], ids=[s.id for s in SCREENS])
def test_every_screen_reads_in_french(screen):
    at = app(None if screen.id == "home" else Path(screen.file).stem, lang="fr")
    assert not at.exception, [e.value for e in at.exception]
    shown = rendered_text(at)
    english = [s for s in english_sentences() if s in shown]
    assert not english, f"{screen.id} shows English in French: {english[:5]}"
    assert at.title and at.title[0].value in catalogue("fr").values()
