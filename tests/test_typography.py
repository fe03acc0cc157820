"""French typography and the course's vocabulary in the French catalogues (locales/fr/*.po).

Vocabulary: one French word per notion, the course's (BANNED lists the variants found and replaced).

Typography: a non-breaking space (U+00A0, the one Babel puts before '%') before : ; ! ? % » and after «,
and between a number and its unit ('28 px', '2 Mo', '30 s'); thousands grouped with U+202F, as Babel groups
the numbers passed as placeholders ('10 000'). An ordinary space there lets the browser break the line
before the colon or after the opening guillemet.

Parts of a message that are not French prose are left alone (PROTECTED), each for a reason: code spans and
indented command lines are copied into Python or a terminal; LaTeX is typeset by KaTeX; str.format and
Plotly placeholders are filled in by the code (their '%' and ':' are format specs); URLs and query strings
('?present=1') are not punctuation; Streamlit's colour directive ':green[' is markup.
"""

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from cnnviz.i18n import LOCALES, format_number, translator

NBSP, NNBSP = "\u00a0", "\u202f"

PROTECTED = re.compile("|".join([
    r"`[^`\n]*`",                 # Markdown code span: Python or a shell command, copied as is
    r"(?m:^ {2,}\S.*$)",          # indented command line (errors_lib's data how-to): pasted into a terminal
    r"\$[^$\n]+\$",               # LaTeX math ($f(x;\theta)$): KaTeX spaces it
    r"%\{\{[^{}]*\}\}",           # a Plotly placeholder inside a str.format template: %{{y}}
    r"%\{[^{}]*\}",               # a Plotly placeholder: %{y:.1%}
    r"\{\{|\}\}",                 # str.format's escaped braces
    r"\{[^{}]*\}",                # a str.format placeholder: {acc:.1%}, {value}
    r"https?://\S+",              # a URL (http://host:8501/?x=1)
    r"\?[a-z_]+=\S*",             # a query string written in prose: ?present=1
    r"\*\*\?\*\*",                # the bold '?' that marks the asked cell in a question: a symbol, not punctuation
    r":[a-z]+(?:-background)?\[", # Streamlit's colour directive :green[…]
]))

UNITS = r"(?:px|Ko|Mo|Go|ko|bits?|ms|µs|min|s|h)"
RULES = [
    # (what is wrong, pattern matched on the text with its protected parts blanked out)
    ("ordinary space before : ; ! ? » %", re.compile(r"[ \t\n][:;!?»%]")),
    ("no space before ; ! ? »", re.compile(r"[^\s\u00a0\u202f(\[«'\"][;!?»]")),
    ("no space before a colon that ends a clause", re.compile(r"[^\s\u00a0\u202f]:(?=[\s*_]|$)")),
    ("number glued to %", re.compile(r"[0-9\x00]%")),
    ("ordinary space or none after «", re.compile(r"«(?![\u00a0])")),
    ("ordinary space after n°", re.compile(r"n°[ \t]")),
    ("ordinary space or none between a number and its unit",
     re.compile(rf"[0-9\x00](?: |){UNITS}(?![\w'’])")),
    ("thousands not grouped with U+202F", re.compile(r"(?<![\d.,])\d{1,3}[ \u00a0]\d{3}(?!\d)|(?<![\d.,\w])\d{5,}")),
]


def blank_protected(text: str) -> str:
    """The text with each protected part replaced by NULs of the same length (positions unchanged)."""
    return PROTECTED.sub(lambda m: "\x00" * len(m.group()), text)


def violations(text: str) -> list[tuple[str, str]]:
    """(rule, snippet) for each place of `text` where French typography wants a non-breaking space."""
    blanked = blank_protected(text)
    out = []
    for rule, pattern in RULES:
        for m in pattern.finditer(blanked):
            snippet = text[max(0, m.start() - 20):m.end() + 20]
            out.append((rule, snippet.replace(NBSP, "⍽").replace(NNBSP, "‿")))
    return out


def french_catalogues() -> list[Path]:
    return sorted((LOCALES / "fr").rglob("*.po"))


def messages(path: Path) -> list[tuple[str, str]]:
    with open(path, "rb") as f:
        return [(m.id, m.string) for m in read_po(f, locale="fr") if m.id and isinstance(m.string, str)]


def test_the_rules_catch_what_they_should():
    """The checker itself: each rule fires on a plain space and stays quiet once fixed or inside protected text."""
    wrong = ["Exactitude : bonne", "Vrai ?", "Bravo!", "« texte »", "fait 5 Mo", "10 %", "10%", "en 30 s.",
             "10 000 images", "de 0 à 2147483647", "image n° 4", "{n} Mo", "{x} :"]
    for text in wrong:
        assert violations(text), text
    right = ["Exactitude\u00a0: bonne", "Vrai\u00a0?", "«\u00a0texte\u00a0»", "fait 5\u00a0Mo", "10\u00a0%",
             "10\u202f000 images", "{acc:.1%}", "`nn.Linear(a, b)  # TODO : x`", "http://localhost:8501/?x=1",
             "à 13:30", "$f(x;\\theta)$", "ligne %{y} : ok".replace(" :", "\u00a0:"), "%{y:.1%}",
             "Aussi ?present=1 dans un lien", ":green[✓ juste]", "la case **?**", "CIFAR-10 et 3 blocs",
             "  sudo apt-get install x   # Debian : /usr/share", "en 1989 ; puis".replace(" ;", "\u00a0;"),
             "16\u00a0bits", "des pixels (s)"]
    for text in right:
        assert not violations(text), (text, violations(text))


@pytest.mark.parametrize("path", french_catalogues(), ids=lambda p: p.name)
def test_french_typography(path):
    found = [f"{msg_id}: {rule}: …{snippet}…" for msg_id, text in messages(path) for rule, snippet in violations(text)]
    assert not found, f"{len(found)} place(s) in {path.name} (⍽ = U+00A0, ‿ = U+202F):\n" + "\n".join(found)


def test_a_rendered_message_keeps_its_non_breaking_spaces():
    """Formatting a real message through the app's `t` keeps the catalogue's U+00A0 around the numbers Babel
    writes (with its own U+202F grouping and U+00A0 before %)."""
    t = translator("fr")
    text = t("err.img_too_large_bytes", name="photo.png", mb=12, limit=5)
    assert f"12{NBSP}Mo{NBSP};" in text and f"5{NBSP}Mo" in text, text
    preview = t("train.preview", params=23296, mb=512, train=60000, val=5000, seconds=1234.4)
    assert f"{format_number('fr', 1234)}{NBSP}s" in preview and NNBSP in preview, preview
    prediction = t("fm.prediction", name="Chemise", p=0.9323)
    assert f"Prédiction{NBSP}:" in prediction and f"93,2{NBSP}%" in prediction, prediction
    assert not violations(text) and not violations(preview) and not violations(prediction)


# The course's word for each notion, and the variants that crept in (checked outside PROTECTED parts).
BANNED = [
    (r"\bperte\b", "« fonction de coût », not « (fonction de) perte »"),
    (r"\bmarges?\b", "« remplissage (padding) », not « marge » (the app uses « marge » for nothing else)"),
    (r"\bjeux? de (?:test|données|validation|entraînement)", "« ensemble de test / de données », not « jeu de »"),
    (r"points? de sauvegarde", "checkpoint: « point de contrôle », the word of the error messages"),
    (r"\bbatch[ -]norm", "« normalisation par lots (batchnorm) », not « batch norm »"),
    (r"normalisation par lot\b", "« normalisation par lots », plural"),
    (r"entièrement connecté", "« couche linéaire (fully connected) », the course's word"),
    (r"\bunités?\b", "« neurone », the dominant word, for a unit of a layer (no other sense of « unité » here)"),
    (r"exactitude (?:en|au|sur le) test\b", "« exactitude sur l'ensemble de test »"),
    (r"(?<!\()average pooling", "« pooling moyen »; « (average pooling) » only as the English gloss in parentheses"),
]


def vocabulary_faults(text: str) -> list[tuple[str, str]]:
    blanked = blank_protected(text)
    return [(why, text[max(0, m.start() - 20):m.end() + 20]) for pattern, why in BANNED
            for m in re.finditer(pattern, blanked, re.IGNORECASE)]


def test_the_vocabulary_rules_catch_what_they_should():
    for text in ["la marge (padding)", "Le coût (fonction de perte)", "jeu de test", "un point de sauvegarde",
                 "CNN compact (batch norm)", "normalisation par lot", "couche entièrement connectée",
                 "une unité de conv1", "exactitude en test", "Exactitude sur le test", "Après average pooling"]:
        assert vocabulary_faults(text), text
    for text in ["fonction de coût", "remplissage (padding)", "ensemble de test", "point de contrôle (checkpoint)",
                 "normalisation par lots (batchnorm)", "nn.BatchNorm2d", "couche linéaire (fully connected)",
                 "un neurone de conv1", "exactitude sur l'ensemble de test", "sa **moyenne** (average pooling)",
                 "`unité = 1`"]:
        assert not vocabulary_faults(text), text


@pytest.mark.parametrize("path", french_catalogues(), ids=lambda p: p.name)
def test_the_course_vocabulary(path):
    found = [f"{msg_id}: {why}: …{snippet}…" for msg_id, text in messages(path)
             for why, snippet in vocabulary_faults(text)]
    assert not found, f"{len(found)} place(s) in {path.name}:\n" + "\n".join(found)
