"""The Class screen in AppTest: an instructor and two students, each a separate session, sharing one SQLite file.

Fragments do not tick in AppTest: a student's page is run again by hand where a browser's poll would redraw it (the
real polling is tested in tests/e2e/test_classroom.py).
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from cnnviz import class_questions as cq
from cnnviz.classroom import ClassStore
from cnnviz.i18n import tr
from tests.apptest import app, chart, decode, open_link, param

KEY = "a long instructor key"


@pytest.fixture
def db(tmp_path, monkeypatch) -> ClassStore:
    url = f"sqlite:///{tmp_path / 'class.sqlite'}"
    monkeypatch.setenv("CNNVIZ_DB", url)
    monkeypatch.setenv("CNNVIZ_INSTRUCTOR_KEY", KEY)
    store = ClassStore(url)
    yield store
    store.dispose()


def start_class(lang: str = "en", key: str = KEY):
    at = app("class", lang=lang)
    at.text_input(key="class_key").input(key)
    at.button(key="class_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    teacher = at.session_state["_class_teacher"] if "_class_teacher" in at.session_state else None
    return at, (teacher or {}).get("code")


def join(code: str, lang: str = "en"):
    at = open_link("class", code=code, lang=lang)
    assert not at.exception, [e.value for e in at.exception]
    return at


def unescaped(text: str) -> str:
    """Text as the reader sees it (ui.plain escapes Markdown with backslashes)."""
    return re.sub(r"\\(.)", r"\1", text)


def errors(at) -> list[str]:
    return [unescaped(e.value) for e in at.error]


def texts(at) -> str:
    parts = [str(getattr(e, "value", "")) for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success",
                                                      "error", "warning", "code", "metric")
             for e in getattr(at, kind)]
    return unescaped("\n".join(parts))


def send(at):
    return next(b for b in at.button if b.label == "Envoyer")


def picks(at) -> list:
    return [b for b in at.button if b.key and b.key.startswith("class_pick_")]


def ask_from(at, screen: str, offer: str):
    """The instructor opens `screen`, asks `offer` from the sidebar, and is back on the Class screen."""
    at.switch_page(f"pages/{screen}.py").run()
    at.radio(key="class_offer").set_value(offer)
    at.button(key="class_ask").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at.switch_page("pages/class.py").run()  # AppTest stays on its own page after st.switch_page


def test_a_wrong_key_opens_no_class(db):
    at, code = start_class(key="not the key")
    assert code is None
    assert errors(at) == ["Wrong instructor key."]
    assert at.text_input(key="class_key").value == ""  # the typed key does not stay on the page


def test_the_instructor_gets_a_join_code_and_its_qr_code_and_never_shows_the_key(db):
    at, code = start_class(lang="fr")
    assert re.fullmatch(r"[A-Z0-9]{6}", code) and param(at, "code") == code
    assert at.title[0].value == f"Classe {code}"
    shown = texts(at)
    assert f"/class?code={code}" in shown and KEY not in shown
    assert len(at.get("image")) == 1  # the QR code
    assert db.check_key(code, KEY) == code  # the class is in the shared database


def test_two_students_answer_and_the_projector_counts_then_reveals(db):
    at, code = start_class()
    s1, s2 = join(code), join(code, lang="fr")
    for s in (s1, s2):
        assert "question" in texts(s).lower() and not picks(s)  # waiting
    at = ask_from(at, "convolution", "kernel")
    qid = db.current(code)["id"]
    right = db.results(code, qid, KEY)["answer"]
    wrong = (right + 1) % 4
    s1.run(), s2.run()
    assert [b.label for b in picks(s1)] == ["A", "B", "C", "D"]
    assert "Quel noyau" in texts(s2) and not s2.success  # French, and no answer before the reveal
    s1.button(key=f"class_pick_{qid}_{right}").click().run()
    s2.button(key=f"class_pick_{qid}_{right}").click().run()
    s2.button(key=f"class_pick_{qid}_{wrong}").click().run()  # a change of mind replaces the first answer
    assert s2.button(key=f"class_pick_{qid}_{wrong}").proto.type == "primary"
    at.run()
    assert at.metric[0].value == "2"
    bars = chart(at, "class_hist_1")["data"][0]
    counts = decode(bars["y"]).tolist()
    assert sum(counts) == 2 and counts[right] == 1 and counts[wrong] == 1
    at.button(key="class_reveal").click().run()
    assert any("50%" in m.value and "1 of 2" in m.value for m in at.markdown)
    s1.run(), s2.run()
    assert s1.success and "You had it right." in texts(s1)
    assert s2.success and "Pas cette fois" in texts(s2)
    assert not picks(s1)  # no more answering


def test_a_closed_vote_and_a_vote_again_beside_the_first(db):
    at, code = start_class()
    s1 = join(code)
    at.button(key="class_quick_choice").click().run()
    qid = db.current(code)["id"]
    s1.run()
    s1.button(key=f"class_pick_{qid}_1").click().run()
    at.button(key="class_close").click().run()
    s1.run()
    assert not picks(s1) and "The vote is closed." in texts(s1) and "Your answer: **B**" in texts(s1)
    at.button(key="class_again").click().run()
    s1.run()
    second = db.current(code)["id"]
    s1.button(key=f"class_pick_{second}_2").click().run()
    at.run()
    first_round = decode(chart(at, "class_hist_1")["data"][0]["y"]).tolist()
    second_round = decode(chart(at, "class_hist_2")["data"][0]["y"]).tolist()
    assert first_round == [0, 1, 0, 0] and second_round == [0, 0, 1, 0]


def test_a_number_typed_the_french_way(db):
    at, code = start_class()
    question = cq.numeric_question(SimpleNamespace(kind="conv_output_size", answer=3, data={
        "n": 5, "k": 3, "stride": 1, "padding": 0, "dilation": 1}), "convolution")
    qid = db.ask(code, KEY, question)
    s = join(code, lang="fr")
    assert "Une entrée de 5×5 pixels" in texts(s)
    s.text_input(key=f"class_num_{qid}").input("trois")
    send(s).click().run()
    assert errors(s) == [tr("fr", "ex.err.not_a_number", text="trois")]  # read as on the Exercises screen
    s.text_input(key=f"class_num_{qid}").input("2,5")
    send(s).click().run()
    assert db.results(code, qid, KEY)["values"] == {2.5: 1} and "Votre réponse\u00a0: **2,5**" in texts(s)
    db.reveal(code, qid, KEY)
    s.run()
    assert "La bonne réponse\u00a0: 3" in texts(s)


def test_a_nickname_is_plain_text_everywhere(db):
    at, code = start_class()
    s = join(code)
    at.button(key="class_quick_tf").click().run()
    qid = db.current(code)["id"]
    s.run()
    s.text_input(key="class_nick").input("<b>Ada</b> **x**").run()
    s.button(key=f"class_pick_{qid}_True").click().run()
    assert db.nicknames(code, qid, KEY) == {True: ["<b>Ada</b> **x**"]}
    assert any(c.value.endswith("\\<b\\>Ada\\</b\\> \\*\\*x\\*\\*") for c in s.caption)
    at.run()
    assert any("\\<b\\>Ada\\</b\\> \\*\\*x\\*\\*" in m.value for m in at.markdown)


def test_unknown_and_hostile_codes(db):
    s = join("AAAAAA")
    assert any("AAAAAA" in e for e in errors(s)) and s.text_input(key="class_join_code")
    s = open_link("class", code="<script>alert(1)</script>")
    assert not s.exception and s.text_input(key="class_join_code") and param(s, "code") is None


def test_only_the_instructor_can_ask_about_a_view(db):
    at, code = start_class()
    s = join(code)
    s.switch_page("pages/convolution.py").run()
    assert not [r for r in s.radio if r.key == "class_offer"] and not [b for b in s.button if b.key == "class_ask"]
    at.switch_page("pages/convolution.py").run()
    assert at.radio(key="class_offer").options


def test_taking_back_a_class_needs_its_key(db):
    code = db.open_class(KEY)
    at = join(code)
    at.text_input(key="class_key").input("wrong").run()
    at.button(key="class_start").click().run()
    assert "_class_teacher" not in at.session_state and at.error
    at.text_input(key="class_key").input(KEY).run()
    at.button(key="class_start").click().run()
    assert at.session_state["_class_teacher"]["code"] == code and at.button(key="class_quick_choice")


def test_a_numeric_question_about_the_view_answered_the_french_way(db):
    """Convolution's default view (the course's example, step 1): the value of the output cell marked "?" is 4."""
    at, code = start_class()
    at = ask_from(at, "convolution", "numeric")
    q = db.current(code)
    assert q["kind"] == "numeric" and "answer" not in q
    s = join(code, lang="fr")
    assert "Quelle est la valeur de la case de sortie marquée" in texts(s)
    assert "? · ·\n· · ·\n· · ·" in texts(s)  # the 3×3 output, the cell asked marked
    s.text_input(key=f"class_num_{q['id']}").input("4,0")
    send(s).click().run()
    at.button(key="class_reveal").click().run()
    assert any("100%" in m.value and "1 of 1" in m.value for m in at.markdown)
    s.run()
    assert "Vous aviez la bonne réponse." in texts(s)
