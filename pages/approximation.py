"""Screen: a neural network is a function — one hidden layer of N neurons learns a 1-D function, live, and the
error against N (universal approximation theorem, Cybenko 1989; Hornik et al. 1989)."""

import streamlit as st

import ui
from cnnviz.approx import ACTIVATIONS, DEFAULT_STEPS, FUNCTIONS, MAX_NEURONS, N_GRID, N_TRAIN, FitStore, fit, sweep
from cnnviz.figures_approx import fit_figure, sweep_figure, training_figure
from cnnviz.i18n import format_number

t, state = ui.page("approximation")
lang = t.lang
FUNCTION_LABELS = {"sine": "ua.function.sine", "step": "ua.function.step", "abs": "ua.function.abs",
                   "noisy": "ua.function.noisy"}
ACTIVATION_LABELS = {"tanh": "ua.activation.tanh", "relu": "ua.activation.relu"}
NOTES = {"step": "ua.note.step", "noisy": "ua.note.noisy", "abs": "ua.note.abs", "sine": "ua.note.sine"}


@st.cache_resource(show_spinner=False)
def shared_fits() -> FitStore:
    """The fits already made on this server, for every session (the same settings give the same fit)."""
    return FitStore(128)


@st.cache_data(show_spinner=False, max_entries=64)
def errors_by_width(function: str, activation: str, seed: int) -> dict:
    """Errors for N = 1, 2, 4 … 64, computed once per server for each (function, activation, seed)."""
    return sweep(function, activation, seed, DEFAULT_STEPS)


st.title(t("ua.title"))
ui.intro(t("ua.intro"))
if not ui.presenting():  # at a projector the instructor states it; the figure comes first
    with st.container(border=True):
        st.markdown(t("ua.theorem"))
        st.markdown(t("ua.caveats"))

c1, c2, c3 = st.columns([5, 3, 4])
function = c1.radio(t("ua.function"), FUNCTIONS, key=state.key("function"), horizontal=True,
                    format_func=lambda f: t(FUNCTION_LABELS[f]))
activation = c2.radio(t("ua.activation"), ACTIVATIONS, key=state.key("activation"), horizontal=True,
                      format_func=lambda a: t(ACTIVATION_LABELS[a]))
neurons = c3.slider(t("ua.neurons"), 1, MAX_NEURONS, key=state.key("neurons"), help=t("ua.neurons_help"))
with ui.secondary(t):
    d1, d2, d3, d4 = st.columns([3, 2, 4, 3], vertical_alignment="bottom")
    steps = d1.slider(t("ua.steps"), 100, 5000, step=100, key=state.key("steps"), help=t("ua.steps_help"))
    seed = d2.number_input(t("ua.seed"), 0, 9999, key=state.key("seed"), help=t("ua.seed_help"))
    show_units = d3.toggle(t("ua.units"), key=state.key("units"), help=t("ua.units_help"))
    retrain = d4.button(t("ua.train"), key="ua_train", icon=":material/play_arrow:", help=t("ua.train_help"),
                        width="stretch")

settings = (function, activation, int(neurons), int(steps), int(seed))
store = shared_fits()
result = store.get(settings)
chart = st.empty()
fig_height = 300 if ui.presenting() else 420  # a projector shows 1280×720
if result is None or retrain:  # train here, redrawing the curve at each snapshot (20 per fit)
    bar = st.progress(0.0, text=t("ua.training", step=0, steps=steps))

    def draw(step, pred, loss):
        bar.progress(step / steps, text=t("ua.training", step=step, steps=steps))
        ui.chart(training_figure(function, neurons, steps, step, pred, height=fig_height, lang=lang),
                 width="stretch", container=chart)

    result = fit(*settings, on_snapshot=draw)
    store.put(settings, result)
    bar.empty()
ui.chart(fit_figure(result, show_units=show_units, height=fig_height, lang=lang), key="ua_fit",
         width="stretch", container=chart)

m1, m2, m3 = st.columns(3)
m1.metric(t("ua.max_error"), format_number(lang, result.max_error, ".3f"), help=t("ua.errors_help", n=N_GRID))
m2.metric(t("ua.mse"), format_number(lang, result.mse, ".2e"), help=t("ua.errors_help", n=N_GRID))
m3.metric(t("ua.parameters"), format_number(lang, 3 * result.neurons + 1), help=t("ua.parameters_help"))
st.caption(t("ua.timing", seconds=result.seconds, steps=result.steps, points=N_TRAIN))
st.markdown(t(NOTES[function]))

st.header(t("ua.sweep_title"))
with st.spinner(t("ua.sweep_running")):
    table = errors_by_width(function, activation, int(seed))
ui.chart(sweep_figure(table, result, lang=lang), key="ua_sweep")
st.caption(t("ua.sweep_caption", seed=int(seed), steps=DEFAULT_STEPS))
