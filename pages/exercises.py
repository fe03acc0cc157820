"""Screen: exercises drawn from a seed (in the link: /exercises?kind=conv_cell&seed=17), checked by the app's own
engines; a hint for a wrong answer, the worked solution, a link to the example, the session's score as a CSV."""

import streamlit as st

import ui
from cnnviz import CnnvizError
from cnnviz.exercises import KINDS, MAX_SEED
from ui import exercise_view as view

t, state = ui.page("exercises")

st.title(t("ex.title"))
ui.intro(t("ex.intro"))

with ui.secondary(t):  # folded away in the presenter view, so the question and its grids fit the projector
    c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
    c1.selectbox(t("ex.kind"), KINDS, format_func=lambda k: t(view.KIND_LABELS[k]), key=state.key("kind"))
    c2.number_input(t("ex.seed"), 0, MAX_SEED, key=state.key("seed"), help=t("ex.seed_help"))
    c3.button(t("ex.next"), on_click=view.next_seed, args=(state,), key="ex_next", icon=":material/casino:",
              width="stretch")

try:
    exercise = view.seeded(state.kind, int(state.seed))
    st.header(t(view.KIND_LABELS[exercise.kind]))  # h2 under the page's h1 (axe: heading order)
    view.question(t, exercise)
except CnnvizError as exc:  # the shipped network or its test images missing on this server
    ui.show_error(exc)
    ui.stop()

view.answer(t, exercise, "ex")
view.score(t)
