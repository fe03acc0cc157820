"""Every session-state entry the app keeps is declared in the registry (ui/screens.py: a screen's settings and
`keys`, the frame's FRAME_KEYS, the pieces' PIECE_KEYS) or is a widget's: a key added without its declaration fails
here."""

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import TIMEOUT, open_link, undeclared_keys
from ui import screens
from ui.exercise_view import box_key
from ui.screens import SCREENS, is_declared


def test_every_screen_leaves_only_declared_keys():
    at = AppTest.from_file("../app.py", default_timeout=3 * TIMEOUT)  # every screen's first run, in one session
    at.query_params["lang"] = "fr"
    at.run()
    widgets: set[str] = set()
    assert not undeclared_keys(at, widgets)
    for screen in SCREENS:
        at.switch_page(screen.file).run()
        assert not at.exception, (screen.id, [e.value for e in at.exception])
        assert not undeclared_keys(at, widgets), screen.id
    at.run()  # the last screen again: the previous screen's widgets are gone
    assert not undeclared_keys(at, widgets)


def test_grad_cam_and_remedies_keys_are_declared():
    at = open_link("feature_maps", gradcam="1")
    assert not at.exception
    at.run()
    assert "fm_cam_memo" in at.session_state and not undeclared_keys(at, set())


def test_answers_and_the_check_yourself_box_keep_declared_keys():
    at = open_link("exercises", lang="en", kind="conv_cell", seed=17)
    widgets: set[str] = set()
    assert not undeclared_keys(at, widgets)  # gathers this run's widgets too
    at.text_input[0].input("0")
    next(b for b in at.button if b.label == "Check").click().run()
    assert "ex_answers" in at.session_state and any(k.endswith("_feedback") for k in at.session_state.keys())
    assert not undeclared_keys(at, widgets)
    at.switch_page("pages/pooling.py").run()
    assert not undeclared_keys(at, widgets)
    at.session_state[box_key("pooling")] = True  # the box opened
    at.run()
    [field] = [w for w in at.text_input if w.key.startswith("cy_pooling")]
    field.input("12")
    next(b for b in at.button if b.label == "Check").click().run()
    assert not undeclared_keys(at, widgets)
    next(b for b in at.button if b.label == "Another question").click().run()  # the box's own seed
    assert "cy_pooling_seed" in at.session_state
    assert not undeclared_keys(at, widgets)


def test_a_class_session_keeps_declared_keys(tmp_path, monkeypatch):
    from cnnviz.classroom import ClassStore

    url = f"sqlite:///{tmp_path / 'class.sqlite'}"
    monkeypatch.setenv("CNNVIZ_DB", url)
    monkeypatch.setenv("CNNVIZ_INSTRUCTOR_KEY", "a long instructor key")
    store = ClassStore(url)
    try:
        teacher, seen = open_link("class"), set()
        assert not undeclared_keys(teacher, seen)
        teacher.text_input(key="class_key").input("a long instructor key")
        teacher.button(key="class_start").click().run()
        code = teacher.session_state["_class_teacher"]["code"]
        assert not undeclared_keys(teacher, seen)
        teacher.switch_page("pages/convolution.py").run()  # "Ask the class" from the sidebar
        assert not undeclared_keys(teacher, seen)
        teacher.radio(key="class_offer").set_value("kernel")
        teacher.button(key="class_ask").click().run()
        assert not undeclared_keys(teacher, seen)
        student, theirs = open_link("class", code=code), set()
        assert not undeclared_keys(student, theirs)
        qid = store.current(code)["id"]
        student.button(key=f"class_pick_{qid}_0").click().run()
        assert "_class_student" in student.session_state and not undeclared_keys(student, theirs)
    finally:
        store.dispose()


def test_an_undeclared_key_is_caught():
    at = open_link("training")
    at.run()
    widgets: set[str] = set()
    assert not undeclared_keys(at, widgets)
    at.session_state["train_scratch"] = 1  # a key a page would keep without declaring it
    at.session_state["_scratch"] = 2
    assert undeclared_keys(at, widgets) == {"train_scratch", "_scratch"}
    assert is_declared("train_job") and is_declared("train_lr") and is_declared("lang")
    assert not is_declared("train_") and not is_declared("fm_job")  # a key of another screen is not one of this
    assert is_declared("ex_ex_conv_cell_17_0a1b2c3d_feedback") and is_declared("cy_pooling_seed")  # "*" patterns
    assert not is_declared("ex_feedback_x") and not is_declared("cy_pooling_other_state")
    assert is_declared("_class_student") and not is_declared("_class_other")


def test_the_registry_refuses_a_key_declared_twice(monkeypatch):
    training = screens.BY_ID["training"]
    twice = dataclasses.replace(training, keys=(*training.keys, "lr"))  # "lr" is already a setting
    monkeypatch.setattr(screens, "SCREENS", tuple(twice if s is training else s for s in SCREENS))
    with pytest.raises(RuntimeError, match="session keys repeat"):
        screens.check_registry()
    monkeypatch.setattr(screens, "FRAME_KEYS", (*screens.FRAME_KEYS, "train_x"))
    with pytest.raises(RuntimeError, match="frame key 'train_x'"):
        screens.check_registry()


def test_a_screen_settings_wait_aside_while_another_screen_is_shown():
    """Only the shown screen's settings are entries of st.session_state (Streamlit reads every entry for each
    widget it draws); another screen's are kept aside and come back with their screen, as the student left them."""
    from tests.apptest import app, param

    at = app("convolution")
    at.number_input(key="conv_stride").set_value(2).run()
    at.switch_page("pages/pooling.py").run()
    assert not at.exception
    assert "conv_stride" not in at.session_state and "pool_size" in at.session_state
    from ui.frame import FIELD_KEYS

    shown = [k for k in at.session_state.keys() if k in FIELD_KEYS]
    assert shown and all(k.startswith("pool_") for k in shown), shown
    at.number_input(key="pool_size").set_value(3).run()
    at.switch_page("pages/convolution.py").run()
    assert at.number_input(key="conv_stride").value == 2 and param(at, "stride") == "2"
    assert "pool_size" not in at.session_state
    at.switch_page("pages/pooling.py").run()
    assert at.number_input(key="pool_size").value == 3
