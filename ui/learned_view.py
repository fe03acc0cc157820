"""Feature maps' "What the network learned" (issue 24): the image a channel (or a class) responds to most,
beside the top-9 real images of the same channel, with the regulariser switches; every channel of a stage as a
mosaic computed in the background; and "Scramble the weights" next to Grad-CAM (Adebayo et al. 2018).

The computations are cnnviz.explain's (ascent.py, sanity.py), the figures cnnviz.figures_learned's. What a class
shares is computed once per server, keyed by plain values (ui.shared_cache.model_key, the settings): an image
per (network, stage, channel, settings), a MosaicJob per (network, stage, settings) — its thread computes, the
page only polls it (a fragment) —, a cascade per (network, image, class). The settings are the screen's
(wants, wants_of, wants_class, steps, jitter, l2, tv, blur, mosaic, scramble in ui/screens.py): a link
reproduces the view.
"""

from __future__ import annotations

import threading

import numpy as np
import streamlit as st

from cnnviz import CnnvizError
from cnnviz.explain import LOGITS, MosaicJob, Regularisers, cascading_randomisation, channel_images
from cnnviz.figures_learned import (
    cascade_correlation_figure,
    cascade_maps_figure,
    clicked_tile,
    images_mosaic_figure,
    wanted_figure,
)
from cnnviz.i18n import format_number
from ui import explain_panel, shared_cache
from ui.charts import chart
from ui.screens import ASCENT_STEPS, REGULARISERS, WANTS_OF
from ui.widgets import intro, plain, presenting, secondary, show_error

MOSAIC_KEY = "fm_wants_mosaic"
TARGET_LABELS = {"channel": "learned.target_channel_label", "class": "learned.target_class_label"}
SWITCHES = {"jitter": ("learned.jitter", "learned.jitter_help"), "l2": ("learned.l2", "learned.l2_help"),
            "tv": ("learned.tv", "learned.tv_help"), "blur": ("learned.blur", "learned.blur_help")}  # REGULARISERS
SEED = 0  # one starting image for everybody: the class sees the same pictures
STAYS = 0.5  # a mean rank correlation from here up: the map "stays" while the weights are scrambled


# ---------------------------------------------------------------- shared by the server

@st.cache_resource(max_entries=512, show_spinner=False)
def _wanted(network: str, stage: str, channel: int, steps: int, regularisers: tuple, _model):
    """The image one channel wants, computed once per server per network, stage, channel and settings."""
    ascent = channel_images(_model, stage, [channel], steps, SEED, Regularisers(*regularisers))
    ascent.images.setflags(write=False)
    ascent.values.setflags(write=False)
    return ascent


@st.cache_resource(show_spinner=False)
def _mosaic_slots() -> threading.Semaphore:
    """One mosaic computed at a time on this server (the others wait their turn in their own thread)."""
    return threading.Semaphore(1)


@st.cache_resource(max_entries=16, show_spinner=False)
def _mosaic_job(network: str, stage: str, n: int, steps: int, regularisers: tuple, _model) -> MosaicJob:
    """A MosaicJob started once per server per network, stage and settings; every session polls the same."""
    return MosaicJob(_model, stage, n, steps, SEED, Regularisers(*regularisers), slots=_mosaic_slots())


@st.cache_resource(max_entries=64, show_spinner=False)
def _cascade(network: str, image: str, target: int, _model, _image):
    cascade = cascading_randomisation(_model, _image, target, seed=SEED)
    for a in (cascade.gradcam, cascade.gradient, cascade.rho_gradcam, cascade.rho_gradient):
        a.setflags(write=False)
    return cascade


# ---------------------------------------------------------------- the image a channel wants

def _fmt(t, v: float) -> str:
    return format_number(t.lang, float(v), ".3g")


def _target(t, state, stage: str, channel: int, classes) -> tuple[str, int, str]:
    """(stage, channel, words for it) the ascent maximises: the big map's channel, or a class logit."""
    if state.wants_of == "class":
        return LOGITS, int(state.wants_class), t("learned.target_class", name=plain(classes[state.wants_class]))
    return stage, int(channel), t("learned.target_channel", stage=plain(stage), channel=channel)


def _settings(t, state, classes) -> None:
    """The target and the regulariser switches (folded in the presenter view)."""
    if state.wants_of not in WANTS_OF:
        state.wants_of = "channel"
    if not 0 <= state.wants_class < len(classes):  # a link to a class this network does not have
        st.toast(t("learned.bad_class"), icon=":material/info:")
        state.wants_class = 0
    a, b = st.columns([2, 3])
    a.segmented_control(t("learned.target"), list(WANTS_OF), key=state.key("wants_of"), required=True,
                        format_func=lambda v: t(TARGET_LABELS[v]), help=t("learned.target_help"))
    if state.wants_of == "class":
        b.selectbox(t("learned.class"), list(range(len(classes))), key=state.key("wants_class"),
                    format_func=lambda c: classes[c])
    with secondary(t):
        cols = st.columns(len(REGULARISERS) + 1)
        for col, name in zip(cols, REGULARISERS):
            label, help_id = SWITCHES[name]
            col.toggle(t(label), key=state.key(name), help=t(help_id))
        if state.steps not in ASCENT_STEPS:
            state.steps = 256
        cols[-1].select_slider(t("learned.steps"), ASCENT_STEPS, key=state.key("steps"), help=t("learned.steps_help"))


def what_excites(t, state, model, network: str, meta: dict, classes, stage: str, channel: int) -> None:
    """What excites the big map's channel: the top-9 test images and, beside them, the image it wants."""
    st.header(t("exui.excite_title", stage=plain(stage), channel=channel))
    a, b = st.columns(2)
    a.toggle(t("exui.top9"), key=state.key("top9"), help=t("exui.top9_help"))
    b.toggle(t("learned.wants"), key=state.key("wants"), help=t("learned.wants_help"))
    if not state.wants:
        if state.top9:
            explain_panel.top9(t, model, network, meta, classes, stage, channel)
        return
    intro(t("learned.intro"))
    _settings(t, state, classes)
    stage_t, channel_t, words = _target(t, state, stage, channel, classes)
    regularisers = tuple(bool(getattr(state, name)) for name in REGULARISERS)
    key = shared_cache.model_key(model, meta)
    left, right = st.columns([2, 3])
    with right:
        maxima = explain_panel.top9(t, model, network, meta, classes, stage_t, channel_t)
    with left:
        try:
            with st.spinner(t("learned.computing", steps=state.steps)):
                ascent = _wanted(key, stage_t, channel_t, int(state.steps), regularisers, model)
        except CnnvizError as exc:
            show_error(exc)
            return
        height = 460 if presenting() else 340
        chart(shared_cache.figure(wanted_figure, ascent.images[0], t.lang, t("learned.wanted_title", target=words),
                                            height=height), key="fm_wanted_fig")
        value = float(ascent.values[0])
        if maxima is not None and maxima.means is not None:
            means = maxima.means[:, channel_t]
            best = int(np.argmax(means))
            verdict = "learned.beats" if value > means[best] else "learned.not_beaten"
            st.markdown(t(verdict, value=_fmt(t, value), best=_fmt(t, means[best]), index=str(best), n=len(means)))
        st.caption(t("learned.cost", seconds=ascent.seconds, steps=state.steps))
    if not all(regularisers):
        st.info(t("learned.switched_off"), icon=":material/info:")
    n = len(classes) if stage_t == LOGITS else _channels(model, meta, stage_t)
    mosaic(t, state, model, meta, stage_t, channel_t, n, regularisers, classes)


def _channels(model, meta: dict, stage: str) -> int:
    import torch

    with torch.inference_mode():
        return int(model.forward_features(torch.zeros(1, *meta["input_shape"]))[stage].shape[1])


# ---------------------------------------------------------------- every channel, in the background

def mosaic(t, state, model, meta: dict, stage: str, selected: int, n: int, regularisers: tuple, classes) -> None:
    """Every channel of the stage (or every class) as one mosaic, computed by a MosaicJob while the page polls."""
    is_class = stage == LOGITS
    st.toggle(t("learned.mosaic_classes" if is_class else "learned.mosaic", stage=plain(stage), n=n),
              key=state.key("mosaic"), help=t("learned.mosaic_help"))
    if not state.mosaic:
        return
    job = _mosaic_job(shared_cache.model_key(model, meta), stage, n, int(state.steps), regularisers, model)
    progress = job.progress()
    if not progress.finished:
        @st.fragment(run_every=1.0)
        def poll() -> None:
            p = job.progress()
            st.progress(p.done / p.total, text=t("learned.mosaic_progress", done=p.done, total=p.total))
            if p.finished:
                st.rerun()  # the whole page once: it then draws the mosaic (and stops polling)
        poll()
        return
    if progress.error is not None:
        show_error(progress.error)
        return
    result = job.result()

    def clicked() -> None:
        tile = clicked_tile(st.session_state.get(MOSAIC_KEY))
        if tile is not None and 0 <= tile < n:
            if is_class:
                state.wants_class = tile
            else:
                state.channel = tile

    names = tuple(classes) if is_class else ()
    title = t("learned.mosaic_title_classes" if is_class else "learned.mosaic_title", stage=plain(stage), n=n,
              seconds=job.seconds)
    fig = shared_cache.figure(images_mosaic_figure, result.images, result.values, t.lang, title,
                              cols=5 if is_class else 16, selected=selected,
                              item="learned.tile_class" if is_class else "learned.tile_channel", names=names)
    chart(fig, key=MOSAIC_KEY, on_select=clicked, selection_mode="points")
    st.caption(t("learned.mosaic_click"))


# ---------------------------------------------------------------- scramble the weights

def scramble(t, state, model, meta: dict, image: np.ndarray, classes, pred: int) -> None:
    """Grad-CAM and the input gradient as the layers are re-initialised from the last down, with their rank
    correlation to the trained network's maps, and what to conclude (shown beside Grad-CAM, when it is on)."""
    if not state.gradcam:
        return
    st.toggle(t("learned.scramble"), key=state.key("scramble"), help=t("learned.scramble_help"))
    if not state.scramble:
        return
    target = pred if state.cam_class < 0 or state.cam_class >= len(classes) else int(state.cam_class)
    try:
        with st.spinner(t("learned.scrambling")):
            cascade = _cascade(shared_cache.model_key(model, meta), shared_cache.image_key(image), target, model, image)
    except CnnvizError as exc:
        show_error(exc)
        return
    labels = [t("learned.step_trained")] + [t("learned.step_first" if i == 0 else "learned.step_more", layer=name)
                                           for i, name in enumerate(cascade.layers)]
    intro(t("learned.scramble_intro", name=plain(classes[target])))
    big = presenting()
    chart(shared_cache.figure(cascade_maps_figure, cascade.gradcam, cascade.gradient, labels, t.lang,
                                        height=380 if big else 300), key="fm_scramble_maps")
    chart(shared_cache.figure(cascade_correlation_figure, cascade.rho_gradcam, cascade.rho_gradient, labels,
                                        t.lang, height=440 if big else 340), key="fm_scramble_rho")
    first, last = cascade.rho_gradcam[1], np.nanmean(cascade.rho_gradcam[1:])
    last_grad = np.nanmean(cascade.rho_gradient[1:])
    st.markdown(t("learned.scramble_numbers", layer=plain(cascade.layers[0]), first=_rho(t, first),
                  first_grad=_rho(t, cascade.rho_gradient[1]), mean=_rho(t, last), mean_grad=_rho(t, last_grad)))
    stays = max(np.nan_to_num(last, nan=0.0), np.nan_to_num(last_grad, nan=0.0)) >= STAYS
    st.markdown(t("learned.scramble_stays" if stays else "learned.scramble_falls") + " " + t("learned.scramble_conclusion"))


def _rho(t, v: float) -> str:
    return t("learned.undefined") if not np.isfinite(v) else format_number(t.lang, float(v), ".2f")
