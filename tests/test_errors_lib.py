"""The library's error catalogue (locales/*/errors_lib.po) and the code stay in step: every id raised exists
in English and French with the same placeholders, and every id of the catalogue is used."""

import re
import string
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
# every library module: an id raised in a module moved or added later is still seen (a list of names went stale)
FILES = sorted(str(p.relative_to(ROOT / "cnnviz").with_suffix("")) for p in (ROOT / "cnnviz").rglob("*.py"))
ID = re.compile(r"""["']@?(err\.[a-z0-9_.]+)["']""")


def po(lang: str) -> dict[str, str]:
    with open(ROOT / "locales" / lang / "errors_lib.po", "rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def used() -> set[str]:
    ids = set()
    for name in FILES:
        ids |= set(ID.findall((ROOT / "cnnviz" / f"{name}.py").read_text()))
    return ids


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_id_in_both_languages_with_the_same_placeholders():
    en, fr = po("en"), po("fr")
    assert set(en) == set(fr)
    assert all(i.startswith("err.") for i in en)
    for i in en:
        assert en[i] and fr[i], i
        assert fields(en[i]) == fields(fr[i]), i


def test_code_and_catalogue_agree():
    from cnnviz.i18n import catalogue

    en, ids = po("en"), used()
    for lang in ("en", "fr"):  # an id may live in another domain (another screen's own errors)
        missing = ids - set(catalogue(lang))
        assert not missing, f"raised but not in the {lang} catalogue: {sorted(missing)}"
    assert not set(en) - ids, f"in the catalogue but never used: {sorted(set(en) - ids)}"


def test_messages_format_in_both_languages():
    from cnnviz import CnnvizError

    for lang in ("en", "fr"):
        for i, text in po(lang).items():
            numeric = {f for _, f, spec, _ in string.Formatter().parse(text) if f and spec}  # {need:.1f}
            params = {f: 12345 if f in ("n", "row", "lo", "hi") or f in numeric else "X" for f in fields(text)}
            out = CnnvizError(i, **params).message(lang)
            assert "{" not in out and not out.startswith("err."), (lang, i, out)
