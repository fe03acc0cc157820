"""The Training screen's timeline (issue 24): a slider over the moments a run kept (cnnviz.timeline) — conv1's
filters and its maps of one test image sharpen, the validation confusion matrix empties off its diagonal — for
the training just done and, side by side, a second saved run; the same for two runs of the comparison.

The slider's position and the second run are the screen's settings (moment, scrub_with, cmp_moment in
ui/screens.py): a link reproduces the view. A saved run's timeline is read once per server and file version;
the figures are cnnviz.figures' mosaics and confusion matrix and cnnviz.figures_learned's accuracy curve, built
once per server (ui.shared_cache.figure).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from cnnviz import CnnvizError
from cnnviz.data import DATASETS
from cnnviz.figures import confusion_figure, mosaic_figure
from cnnviz.figures_learned import timeline_accuracy_figure
from cnnviz.i18n import format_number
from cnnviz.timeline import Timeline, load_timeline
from ui import shared_cache
from ui.charts import chart
from ui.widgets import class_names, intro, plain, presenting

NONE = ""  # no second run


@st.cache_resource(max_entries=32, show_spinner=False)
def _saved(path: str, mtime: float) -> Timeline | None:
    """A saved run's timeline, read once per server and file version, its arrays read-only."""
    timeline = load_timeline(path)
    if timeline is not None:
        for a in (timeline.steps, timeline.epochs, timeline.filters, timeline.maps, timeline.map_scale,
                  timeline.val_accuracy, timeline.confusion):
            if a is not None:
                a.setflags(write=False)
    return timeline


def saved_timeline(path) -> Timeline | None:
    """The timeline of the run at `path`, or None (a run saved without one, or a file gone or unreadable)."""
    try:
        return _saved(str(path), Path(path).stat().st_mtime)
    except (CnnvizError, OSError):
        return None


def _epoch(t, value: float) -> str:
    return format_number(t.lang, float(value), ".2f")


def _moment_label(t, timeline: Timeline, m: int) -> str:
    return t("learned.moment", epoch=_epoch(t, timeline.epochs[m]), step=int(timeline.steps[m]))


def _position(t, state, field: str, n: int) -> int:
    """The slider's setting as a moment of a timeline of `n` moments: -1 (the default) is the last one; a linked
    position this run does not have is the last one too, with a notice."""
    value = getattr(state, field)
    if value >= n:
        st.toast(t("learned.bad_moment", n=n), icon=":material/info:")
    if not 0 <= value < n:
        setattr(state, field, n - 1)
    return getattr(state, field)


def _run_column(t, label: str, timeline: Timeline, m: int, classes, key: str, note: str = "") -> None:
    """One run at moment m: its validation accuracy, conv1's filters, its maps, the confusion matrix."""
    lang, big = t.lang, presenting()
    st.markdown(f"**{plain(label)}**")
    st.caption(_moment_label(t, timeline, m) + (" · " + note if note else ""))
    acc = float(timeline.val_accuracy[m])
    st.metric(t("learned.val_accuracy"), format_number(lang, acc, ".1%") if np.isfinite(acc) else "—")
    filters = timeline.filters[m].astype(np.float32).mean(axis=1)  # (F, k, k): a colour filter's mean over C
    chart(shared_cache.figure(mosaic_figure, filters, t("learned.timeline_filters", conv=timeline.conv),
                                        max_maps=64, cols=16, colorscale="RdBu_r", symmetric=True,
                                        height=220 if big else 160, lang=lang), key=f"{key}_filters")
    maps = timeline.maps_of(m)
    if maps is not None:
        chart(shared_cache.figure(mosaic_figure, maps, t("learned.timeline_maps", conv=timeline.conv,
                                                                   index=str(timeline.image_index)),
                                            max_maps=64, cols=8, colorscale="RdBu_r", symmetric=True, lang=lang),
                        key=f"{key}_maps")
    if timeline.confusion is not None:
        chart(shared_cache.figure(confusion_figure, timeline.confusion[m], classes,
                                            height=480 if big else 400, lang=lang), key=f"{key}_confusion")
    else:
        st.caption(t("learned.no_validation"))


def scrub(t, state, field: str, runs: list[tuple[str, Timeline, list[str]]], key: str) -> None:
    """A slider over the first run's moments; each run (label, timeline, class names) side by side at the moment
    nearest in epochs."""
    first = runs[0][1]
    m = _position(t, state, field, len(first))
    st.select_slider(t("learned.moment_slider"), options=list(range(len(first))), key=state.key(field),
                     format_func=lambda i: _moment_label(t, first, i), help=t("learned.moment_help"))
    m = getattr(state, field)
    epoch = float(first.epochs[m])
    moments = [m] + [other.nearest(epoch) for _, other, _ in runs[1:]]
    curves = [(label, tl.epochs, tl.val_accuracy) for label, tl, _ in runs]
    if any(np.isfinite(tl.val_accuracy).any() for _, tl, _ in runs):
        chart(shared_cache.figure(timeline_accuracy_figure, curves,
                                            [float(tl.epochs[i]) for (_, tl, _), i in zip(runs, moments)],
                                            t.lang), key=f"{key}_accuracy")
    for i, (col, (label, timeline, classes), mi) in enumerate(zip(st.columns(len(runs)), runs, moments)):
        with col:
            note = t("learned.nearest") if i and abs(float(timeline.epochs[mi]) - epoch) > 1e-9 else ""
            _run_column(t, label, timeline, mi, classes, f"{key}_{i}", note)


def _classes(dataset: str) -> list[str]:
    return class_names(DATASETS.get(dataset, DATASETS["fashion-mnist"])[0])


def scrub_job(t, state, job, runs) -> None:
    """After a training: its timeline, and beside it a saved run chosen by the reader (`runs`: RunSummary list)."""
    timeline = job.timeline()
    if timeline is None:
        return
    st.header(t("learned.timeline_title"))
    intro(t("learned.timeline_intro"))
    own = Path(job.snapshot().saved_path or "").name
    others = {r.name: r for r in runs if r.moments and r.name != own}
    if state.scrub_with not in (NONE, *others):  # a run deleted meanwhile, or a link to a run not here
        st.toast(t("learned.bad_run"), icon=":material/info:")
        state.scrub_with = NONE
    st.selectbox(t("learned.second_run"), [NONE, *others], key=state.key("scrub_with"),
                 format_func=lambda n: t("learned.no_second_run") if n == NONE else n, help=t("learned.second_help"))
    chosen = [(t("learned.this_training"), timeline, _classes(job.config.dataset))]
    second = others.get(state.scrub_with)
    if second is not None:
        other = saved_timeline(second.path)
        if other is not None:
            chosen.append((second.name, other, _classes(second.dataset)))
    scrub(t, state, "moment", chosen, "train_timeline")


def scrub_runs(t, state, picked) -> None:
    """The run comparison's timeline: the first two runs chosen that kept one, side by side."""
    chosen = []
    for r in picked:
        timeline = saved_timeline(r.path) if r.moments else None
        if timeline is not None:
            chosen.append((r.name, timeline, _classes(r.dataset)))
        if len(chosen) == 2:
            break
    st.markdown(f"**{t('learned.compare_timeline')}**")
    if not chosen:
        st.caption(t("learned.compare_no_timeline"))
        return
    scrub(t, state, "cmp_moment", chosen, "train_compare_timeline")
