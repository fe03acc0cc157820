"""Feature maps' "explain every number" panel (issue 11): the big map clickable, one unit explained from the
previous stage with the real numbers, stepping back one click at a time, the unit's receptive field, "Open in
the Convolution screen" for the first layer, what excites a channel (top-9 test images: every stage's ranking from
one background pass per network for the whole server, MaximaJobs; ui/learned_view.py puts them beside the image
the channel wants) and Grad-CAM.

The explained unit is a setting of the screen (ex_stage, ex_ch, ex_row, ex_col in ui/screens.py), so a link
reproduces it. The computations are cnnviz.explain's; the figures cnnviz.figures_explain's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import streamlit as st
import torch

from cnnviz import CnnvizError
from cnnviz.explain import INPUT, LOGITS, ExplainError, explain_unit, grad_cam, top_activations
from cnnviz.explain.excite import MaximaJob
from cnnviz.figures_explain import (
    DIVERGING,
    clickable_map_figure,
    clicked_cell,
    formula_text,
    gradcam_figure,
    kind_label,
    receptive_field_figure,
    top_activations_figure,
    unit_figure,
)
from cnnviz.i18n import format_number
from cnnviz.ops import format_grid
from ui import shared_cache
from ui.charts import chart
from ui.screens import BY_ID
from ui.widgets import images_for, plain, show_error

MAP_KEY = "fm_big"
NONE = ("", -1, -1, -1)


def _set_unit(state, stage: str, channel: int, row: int, col: int, spatial=()) -> None:
    state.ex_stage, state.ex_ch, state.ex_row, state.ex_col = stage, int(channel), int(row), int(col)
    if stage in spatial:  # the big map follows the explained unit
        state.stage, state.channel = stage, int(channel)


def big_map(t, state, maps: np.ndarray, stage: str, channel: int, signed: bool, container) -> None:
    """The chosen map large; a click on a cell explains that unit (an invisible scatter of cell centres)."""
    selected = (state.ex_row, state.ex_col) if (state.ex_stage, state.ex_ch) == (stage, channel) else None

    def clicked():
        cell = clicked_cell(st.session_state.get(MAP_KEY), maps.shape[1:])  # checked: None unless a cell of the map
        if cell is not None:
            _set_unit(state, stage, channel, *cell)

    title = t("fm.big_title", stage=stage, channel=channel, h=maps.shape[1], w=maps.shape[2])
    fig = shared_cache.figure(clickable_map_figure, maps[channel], t.lang, title, selected=selected,
                              colorscale=DIVERGING if signed else "Viridis", height=420)  # once per server
    chart(fig, key=MAP_KEY, share=0.62, on_select=clicked, selection_mode="points", container=container)
    cell_fields(t, state, maps, stage, channel, container)


def cell_fields(t, state, maps: np.ndarray, stage: str, channel: int, container) -> None:
    """The keyboard's way to a cell: its row and column, and "Explain" (shortcut E) — what a click does."""
    h, w = maps.shape[1:]
    S = st.session_state
    unit = (state.ex_stage, state.ex_ch, state.ex_row, state.ex_col)
    if unit[:2] == (stage, channel) and S.get(state.key("cell_shown")) != unit:  # a new unit (a click, a link): shown
        S["fm_cell_row"], S["fm_cell_col"] = int(state.ex_row), int(state.ex_col)
    S[state.key("cell_shown")] = unit
    for name, n in (("fm_cell_row", h), ("fm_cell_col", w)):
        S[name] = int(min(max(S.get(name, n // 2), 0), n - 1))
    with container:
        a, b, c = st.columns([1, 1, 1.3], vertical_alignment="bottom")
        a.number_input(t("exui.cell_row"), 0, h - 1, key="fm_cell_row", help=t("exui.cell_help", last=h - 1))
        b.number_input(t("exui.cell_col"), 0, w - 1, key="fm_cell_col", help=t("exui.cell_help", last=w - 1))
        c.button(t("exui.explain_cell"), key="fm_cell_go", icon=":material/calculate:", shortcut="E",
                 help=t("exui.explain_cell_help"), width="stretch",
                 on_click=lambda: _set_unit(state, stage, channel, S["fm_cell_row"], S["fm_cell_col"]))
        st.caption(t("exui.click_hint"))


def _features(result) -> "OrderedDict[str, torch.Tensor]":
    """The page's forward pass (the shared, read-only maps of ui/shared_cache.py) as explain_unit's `features`:
    no second pass. Copied: torch cannot hold a read-only array, and the shared maps are never changed."""
    feats = OrderedDict((name, torch.from_numpy(np.array(m))[None]) for name, m in result.maps.items())
    feats[LOGITS] = feats[next(reversed(feats))]
    return feats


def _unit_text(t, e, spatial: bool | None = None) -> str:
    if not (e.spatial if spatial is None else spatial):
        return t("exui.unit_flat", stage=e.stage, channel=e.channel)
    return t("exui.unit", stage=e.stage, channel=e.channel, row=e.row, col=e.col)


def panel(t, state, model, image: np.ndarray, result, head=None) -> None:
    """The explained unit (if any): its computation from the previous stage, its receptive field, step back.
    `head`: where its title, formula and figure go (the presenter view: beside the map), the rest below."""
    if not state.ex_stage or state.ex_ch < 0:
        return
    try:
        e = explain_unit(model, image, state.ex_stage, state.ex_ch, max(state.ex_row, 0), max(state.ex_col, 0),
                         features=_features(result))
    except CnnvizError:  # a link to a unit this network does not have: ignored, with a notice
        st.toast(t("exui.bad_unit"), icon=":material/info:")
        state.ex_stage, state.ex_ch, state.ex_row, state.ex_col = NONE
        return
    lang = t.lang
    with head or st.container():
        st.header(t("exui.title", unit=plain(_unit_text(t, e))))
        source = t("exui.input") if e.previous == INPUT else e.previous
        st.markdown(t("exui.what", kind=kind_label(lang, e.kind), previous=plain(source),
                      shape=" × ".join(map(str, e.previous_shape))))
        st.code(formula_text(e, lang), language=None, wrap_lines=True)
    few = {"max_channels": 4} if head is not None and e.kind == "conv" else {}  # a projector: 4 channels
    fig = unit_figure(e, lang, **few)
    if fig is not None:
        if head is not None:  # the presenter view: the formula above says what the long title says
            fig.update_layout(title_text="", margin_t=40)
        chart(fig, key="fm_ex_unit", share=0.75)
    if e.kind == "conv" and len(e.terms.partials) > 8:
        with st.expander(t("exui.partials", n=len(e.terms.partials))):
            st.dataframe({t("exui.col_channel"): e.terms.in_channels.tolist(),  # numbers in the reader's language
                          t("exui.col_partial"): [format_number(lang, float(v), ".5f") for v in e.terms.partials]},
                         hide_index=True, column_config={t("exui.col_partial"): st.column_config.TextColumn(
                             alignment="right")})
    left, right = st.columns([2, 3])
    rf_title = t("exui.rf_unit", stage=e.stage, channel=e.channel)
    chart(receptive_field_figure(image, e.receptive_field, lang, unit=rf_title), key="fm_ex_rf", container=left)
    with right:
        _actions(t, state, e, result)


def _actions(t, state, e, result) -> None:
    spatial = result.spatial_stages()
    if e.follow is not None and e.previous != INPUT:
        f = e.follow
        st.button(t("exui.step_back", unit=_unit_text(t, f, f.stage in spatial)),
                  key="fm_ex_back", icon=":material/arrow_back:", on_click=_set_unit,
                  args=(state, f.stage, f.channel, f.row, f.col, spatial), help=t("exui.step_back_help"))
    elif e.previous == INPUT:
        st.caption(t("exui.at_input"))
    st.button(t("exui.clear"), key="fm_ex_clear", on_click=_set_unit, args=(state, *NONE))
    if e.kind == "conv" and e.previous == INPUT and e.terms.window.shape[0] == 1:
        window = np.round(e.terms.window[0], 2)
        kernel = np.round(e.terms.kernel[0], 2)
        st.caption(t("exui.open_conv_help", bias=float(e.terms.bias), partial=float(e.terms.partial_sum),
                     value=float(e.value)))
        if st.button(t("exui.open_conv"), key="fm_ex_open_conv", icon=":material/grid_on:"):
            open_in_convolution(window, kernel)


def open_in_convolution(window: np.ndarray, kernel: np.ndarray) -> None:
    """Load a window and a kernel into the Convolution screen's settings, then go there."""
    conv = BY_ID["convolution"]
    values = {"input": format_grid(window), "kernel": format_grid(kernel), "step": 1, "padding": 0, "stride": 1,
              "dilation": 1, "flip": False, "animate": False, "ksize": int(kernel.shape[0])}
    for name, value in values.items():
        st.session_state[conv.key(name)] = value
    st.switch_page("pages/convolution.py")


class MaximaJobs:
    """The server's top-9 passes (cnnviz.explain.MaximaJob: every stage of one network in one pass, in a thread),
    one per network and image set, started by the first session that asks; the newest MAX kept. Plain Python,
    shared through st.cache_resource; the threads never call Streamlit."""

    MAX = 3

    def __init__(self):
        self._jobs: "OrderedDict[tuple, MaximaJob]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, model, images) -> MaximaJob:
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job.error is not None and not isinstance(job.error, ExplainError)):
                job = self._jobs[key] = MaximaJob(model, images).start()  # a cancelled pass starts again
            self._jobs.move_to_end(key)
            while len(self._jobs) > self.MAX:
                self._jobs.popitem(last=False)[1].cancel()
            return job


@st.cache_resource(show_spinner=False)
def maxima_jobs() -> MaximaJobs:
    return MaximaJobs()


@st.fragment(run_every=0.5)
def _wait_for(t, job: MaximaJob) -> None:
    """A progress bar while the server's pass runs (polled every half second); the whole page once it is done."""
    done, total = job.progress
    st.progress(done / max(1, total), text=t("exui.top9_progress", done=done, total=total))
    if job.done:
        st.rerun()


def top9(t, model, network: str, meta: dict, classes, stage: str, channel: int, key: str = "fm_top9_fig"):
    """The 9 test images on which `channel` of `stage` responds most -> the stage's StageMaxima, or None (an error
    shown, or the pass still running: its progress shown). Every stage's ranking comes from one pass over the test
    set per network, computed once for the whole server in the background."""
    try:
        data = images_for(meta["dataset"])  # DatasetUnavailable: no test images of a CIFAR-10 network here
        job = maxima_jobs().get((network, id(model), data.source, len(data)), model, data.images)
        if not job.done:
            _wait_for(t, job)
            return None
        if job.error is not None:
            raise job.error
        maxima = job.result.get(stage)
        if maxima is None:
            raise ExplainError("err.explain_unknown_stage", stage=stage, stages=", ".join(job.result))
        tops = top_activations(model, data.images, stage, channel, k=9, maxima=maxima)
    except CnnvizError as exc:
        show_error(exc)
        return None
    chart(top_activations_figure(data.images, tops, t.lang, stage, channel, data.labels, classes), key=key)
    return maxima


def gradcam_section(t, state, model, image: np.ndarray, classes, pred: int) -> None:
    """Grad-CAM of the predicted class or a chosen one, over the input."""
    st.header(t("exui.gradcam_title"))
    st.toggle(t("exui.gradcam"), key=state.key("gradcam"), help=t("exui.gradcam_help"))
    if not state.gradcam:
        return
    if not -1 <= state.cam_class < len(classes):
        state.cam_class = -1
    st.selectbox(t("exui.cam_class"), [-1, *range(len(classes))], key=state.key("cam_class"),
                 format_func=lambda c: t("exui.cam_predicted", name=classes[pred]) if c < 0 else classes[c])
    target = None if state.cam_class < 0 else state.cam_class
    key = (id(model), shared_cache.image_key(image), target)
    memo = st.session_state.get("fm_cam_memo")  # Grad-CAM costs a backward pass: not again on every rerun
    try:
        cam = memo[1] if memo and memo[0] == key else grad_cam(model, image, target)
    except CnnvizError as exc:
        show_error(exc)
        return
    st.session_state["fm_cam_memo"] = (key, cam)
    chart(gradcam_figure(image, cam, t.lang, classes), key="fm_gradcam_fig")
    st.caption(t("exui.gradcam_caption", stage=plain(cam.stage)))
