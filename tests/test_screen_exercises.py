"""AppTest of the Exercises screen (right answer, wrong answer and its hint, the worked solution and its link, the
French decimal comma, hostile links and answers, the score's CSV) and of the "Check yourself" box."""

from urllib.parse import parse_qsl

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.exercises import make_exercise
from cnnviz.i18n import tr
from tests.apptest import app, button, open_link, param, text
from ui.exercise_view import answers_csv, box_key, link_for
from ui.widgets import plain


def linked(**query) -> AppTest:
    at = open_link("exercises", **query)
    assert not at.exception, [e.value for e in at.exception]
    return at


def answer(at: AppTest, typed: str, label: str = "Check") -> AppTest:
    at.text_input[0].input(typed)
    return button(at, label).click().run()


def first_seed(kind: str, test) -> int:
    return next(s for s in range(500) if test(make_exercise(kind, s)))


def test_a_right_answer_scores_and_links_to_the_example():
    ex = make_exercise("conv_cell", 17)
    at = linked(lang="en", kind="conv_cell", seed=17)
    assert tr("en", ex.question().id, **ex.question().params) in text(at)
    assert len(at.get("plotly_chart")) == 3  # input, kernel, the output with its "?"
    answer(at, str(ex.answer))
    assert not at.exception and at.success[0].value == f"Right: **{ex.answer_text('en')}**."
    assert "1 of 1 right" in text(at).replace("**", "")
    assert "Worked solution" in text(at) and f"Answer: **{ex.answer_text('en')}**." in text(at)
    link = at.get("page_link")[0].proto
    assert link.page == "convolution"
    query = dict(parse_qsl(link.query_string))
    assert query == {"lang": "en", **{k: v for k, v in link_query(ex).items()}}
    # the link opens the Convolution screen on that very cell: its arithmetic ends with the answer
    conv = open_link("convolution", **query)
    assert not conv.exception and conv.session_state["conv_step"] == int(query["step"])
    assert conv.code[0].value.endswith(f"= {ex.answer_text('en')}")


def link_query(ex) -> dict:
    from ui.screens import query_for

    screen, values = link_for(ex)
    return query_for(screen, None, **values)


def test_a_wrong_answer_gets_the_hint_of_its_mistake_then_the_solution():
    seed = first_seed("conv_cell", lambda e: any(m.id == "ex.hint.conv_forgot_padding" and e.diagnose(v) == m
                                                 for m, v in e.mistakes))
    ex = make_exercise("conv_cell", seed)
    wrong = next(v for m, v in ex.mistakes if m.id == "ex.hint.conv_forgot_padding")
    at = linked(lang="en", kind="conv_cell", seed=seed)
    assert at.toggle[0].disabled  # no solution before a first answer
    answer(at, f"{wrong:g}")
    warning = at.warning[0].value
    assert warning.startswith("Not quite.") and "Did you forget the padding?" in warning
    assert not at.success and "Worked solution" not in text(at)
    assert "0 of 1 right" in text(at).replace("**", "")
    at.toggle[0].set_value(True).run()
    assert "Worked solution" in text(at) and at.get("page_link")
    answer(at, str(ex.answer))  # right at the second answer: still 0 right at the first
    assert at.success and "0 of 1 right" in text(at).replace("**", "") and "answers given: 2" in text(at)
    rows = answers_csv(at.session_state["ex_answers"]).splitlines()
    assert rows[0].startswith("time_utc,screen,kind,seed,exercise,typed,value,right_answer,right,hint")
    assert rows[1].endswith(",no,ex.hint.conv_forgot_padding") and rows[2].endswith(",yes,")
    assert f"/exercises?kind=conv_cell&seed={seed}" in rows[1]


def test_the_french_decimal_comma():
    seed = first_seed("pool_cell", lambda e: e.data["mode"] == "avg" and not float(e.answer).is_integer()
                      and round(e.answer, 2) == e.answer)
    ex = make_exercise("pool_cell", seed)
    at = linked(lang="fr", kind="pool_cell", seed=seed)
    comma = f"{ex.answer:.2f}".replace(".", ",")
    answer(at, comma, "Vérifier")
    assert at.success and at.success[0].value.startswith("Exact\u00a0: **") and "," in at.success[0].value
    assert "Solution détaillée" in text(at)
    at = linked(lang="fr", kind="pool_cell", seed=seed)
    answer(at, f"{ex.answer + 1:.2f}".replace(".", ","), "Vérifier")
    assert at.warning and at.warning[0].value.startswith("Pas tout à fait.")


@pytest.mark.parametrize("query", [dict(kind="<script>alert(1)</script>", seed="17"),
                                   dict(kind="conv_cell", seed="-3"), dict(kind="conv_cell", seed="1e99"),
                                   dict(kind="predict", seed="9" * 5000)])
def test_a_hostile_link_is_ignored_with_a_notice(query):
    at = linked(lang="en", **query)
    assert any("were not valid and were ignored" in t.value for t in at.toast)
    assert at.session_state["ex_seed"] in (0, 17) and at.session_state["ex_kind"] in ("conv_cell", "predict")
    assert at.title and not at.error


@pytest.mark.parametrize("typed", ["<img src=x onerror=alert(1)>", "[click](http://evil)", "1 2 3", "nan", "¼"])
def test_a_hostile_answer_gets_a_clear_message(typed):
    at = linked(lang="en", kind="conv_output_size", seed=3)
    answer(at, typed)
    assert not at.exception and at.error and "is not a number" in at.error[0].value
    assert at.error[0].value == plain(tr("en", "ex.err.not_a_number", text=typed))  # Markdown escaped: plain text
    assert "ex_answers" not in at.session_state  # not an answer: not counted


def test_predict_is_a_multiple_choice_then_the_networks_probabilities():
    ex = make_exercise("predict", 4)
    at = linked(lang="en", kind="predict", seed=4)
    assert at.radio[0].value is None and len(at.radio[0].options) == 10
    button(at, "Check").click().run()
    assert at.error and "Choose a class first" in at.error[0].value
    at.radio[0].set_value((ex.answer + 1) % 10)
    button(at, "Check").click().run()
    assert at.warning and not at.success
    at.radio[0].set_value(ex.answer)
    button(at, "Check").click().run()
    assert at.success and "Worked solution" in text(at)
    assert len(at.get("plotly_chart")) == 2  # the image, then the probabilities
    assert at.get("page_link")[0].proto.page == "feature_maps"


def test_next_exercise_draws_a_new_seed_into_the_link():
    at = app("exercises")
    assert param(at, "seed") is None  # the default seed 0
    button(at, "Next exercise").click().run()
    assert at.session_state["ex_seed"] != 0 and param(at, "seed") == str(at.session_state["ex_seed"])
    at.selectbox(key="ex_kind").set_value("fc_inputs").run()
    assert "nn.Linear(___, 120)  # TODO" in text(at) and param(at, "kind") == "fc_inputs"


def test_every_kind_draws_in_both_languages():
    for lang in ("en", "fr"):
        at = app("exercises", lang=lang)
        for kind in ("conv_output_size", "conv_params", "pool_cell", "fc_inputs", "receptive_field", "predict"):
            at.selectbox(key="ex_kind").set_value(kind).run()
            assert not at.exception and not at.error, kind


def test_answers_csv_cannot_be_read_as_formulas():
    rows = [dict(key="k", typed="=HYPERLINK(\"http://x\")", value=1, right=False), dict(key="k", typed="-3", right=True)]
    lines = answers_csv(rows).splitlines()
    assert lines[1].split(",")[5].startswith("\"'=HYPERLINK") and lines[2].split(",")[5] == "-3"


# ---------------------------------------------------------------- "Check yourself"

def test_check_yourself_asks_about_the_pooling_view():
    at = app("pooling")
    box = [e for e in at.get("expander") if e.proto.label == "Check yourself"]
    assert box and not box[0].proto.expanded
    assert not [w for w in at.text_input if w.key.startswith("cy_pooling")]  # folded: its question is not built
    at.session_state[box_key("pooling")] = True  # the student opens it
    at.run()
    assert "max-pooling" in text(at) and "row 0, column 0" in text(at)
    [field] = [w for w in at.text_input if w.key.startswith("cy_pooling")]
    field.input("12")
    button(at, "Check").click().run()
    assert at.warning and "Not quite." in at.warning[0].value
    [field] = [w for w in at.text_input if w.key.startswith("cy_pooling")]
    field.input("20")  # max(12, 20, 8, 12), the course's first window
    button(at, "Check").click().run()
    assert at.success and at.success[0].value == "Right: **20**."
    button(at, "Next ▶").click().run()  # the next step: a question about the next cell
    assert "row 0, column 1" in text(at) and not at.success


def test_check_yourself_is_not_in_the_presenter_view():
    at = open_link("pooling", present="1")
    assert not at.exception and not [e for e in at.get("expander") if e.proto.label == "Check yourself"]


# ---------------------------------------------------------------- the solution's link opens that example

def test_links_exist_for_every_drawn_cell_pooling_and_network():
    from ui.screens import query_for

    for seed in range(200):
        for kind in ("conv_cell", "pool_cell", "fc_inputs"):
            screen, values = link_for(make_exercise(kind, seed))
            query_for(screen, "fr", **values)  # every value one the screen accepts
        ex = make_exercise("receptive_field", seed)
        if all(layer["stride"] == 1 and layer["dilation"] == 1 or layer == dict(k=2, stride=2, padding=0, dilation=1)
               for layer in ex.data["layers"]):
            assert link_for(ex) is not None and link_for(ex)[0] == "architecture"


def shown_after_following(ex) -> tuple[str, AppTest]:
    screen, values = link_for(ex)
    at = open_link(screen, lang="en", **{k: v for k, v in link_query(ex).items()})
    assert not at.exception, [e.value for e in at.exception]
    parts = [e.value for kind in ("markdown", "success", "caption") for e in at.get(kind)] + [c.value for c in at.code]
    return screen, "\n".join(parts).replace(",", "")


@pytest.mark.parametrize("kind, seed", [("pool_cell", 0), ("pool_cell", 1), ("conv_output_size", 0),
                                        ("conv_output_size", 1), ("conv_params", 0), ("fc_inputs", 0),
                                        ("receptive_field", 0)])
def test_following_the_link_shows_the_answer_on_that_screen(kind, seed):
    from cnnviz.multichannel import number_text

    ex = make_exercise(kind, seed)
    if kind == "receptive_field":
        ex = make_exercise(kind, first_seed(kind, link_for))
    screen, shown = shown_after_following(ex)
    answer = number_text("en", ex.answer).replace(",", "")
    if kind == "pool_cell":
        assert f"gives **{answer}**" in shown or f"= **{answer}**" in shown, shown
    elif kind == "conv_output_size" and screen == "convolution":
        assert f"⌋ + 1 = {answer}" in shown.split("columns")[0], shown
    elif kind == "receptive_field":
        assert f"Receptive field {answer}×{answer} pixels" in shown, shown  # arch.rf_caption
    else:
        assert answer in shown, shown
