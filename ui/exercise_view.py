"""The Exercises screen's pieces, and the "Check yourself" box of Convolution, Pooling, Multi-channel, Architecture.

An exercise (cnnviz.exercises) is drawn as its question, its data as grids / numbers / code / an image, an
answer field read in the reader's notation (cnnviz.exercises.parse_answer), the hint of a wrong answer, then the
worked solution and a link that opens the screen on that very example. Every answer of the session is kept in
`st.session_state["ex_answers"]`: the score, and the CSV of "Download my answers".

Typed text is never shown as Markdown or HTML (ui.plain) and is written to the CSV so that a spreadsheet cannot
read it as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import zlib
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import streamlit as st

from cnnviz import CnnvizError
from cnnviz.exercises import MAX_ANSWER_CHARS, MAX_SEED, Exercise, exercise_for_view, make_exercise, parse_answer
from cnnviz.figures_exercises import CELL_PX, grid_figure
from cnnviz.geometry import output_size
from cnnviz.i18n import Msg
from cnnviz.layers import format_layers
from cnnviz.ops import format_grid
from ui import shared_cache
from ui.charts import chart
from ui.screens import ARCH_SHAPES, BY_ID, query_for
from ui.widgets import class_name, plain, presenting

S = st.session_state
ANSWERS_KEY = "ex_answers"  # every answer of the session: dicts, in order
KIND_LABELS = {"conv_cell": "ex.kind.conv_cell", "conv_output_size": "ex.kind.conv_output_size",
               "conv_params": "ex.kind.conv_params", "pool_cell": "ex.kind.pool_cell", "fc_inputs": "ex.kind.fc_inputs",
               "receptive_field": "ex.kind.receptive_field", "predict": "ex.kind.predict"}
SCREEN_LABELS = {"convolution": "ex.open.convolution", "pooling": "ex.open.pooling",
                 "multichannel": "ex.open.multichannel", "architecture": "ex.open.architecture",
                 "feature_maps": "ex.open.feature_maps"}
CSV_COLUMNS = ("time_utc", "screen", "kind", "seed", "exercise", "typed", "value", "right_answer", "right", "hint")


@st.cache_resource(max_entries=512, show_spinner=False)
def seeded(kind: str, seed: int) -> Exercise:
    """make_exercise, once per server for a class on the same link (the exercise is only read)."""
    return make_exercise(kind, seed)


@st.cache_resource(max_entries=512, show_spinner=False)
def _about_view(screen_id: str, settings_json: str, seed: int) -> Exercise | None:
    return exercise_for_view(screen_id, json.loads(settings_json), seed)


def about_view(screen_id: str, settings: dict, seed: int) -> Exercise | None:
    """exercise_for_view, once per server for a view (every student on the default view shares it)."""
    return _about_view(screen_id, json.dumps(settings, sort_keys=True, default=str), int(seed))


def say(t, msg: Msg) -> str:
    """A message of cnnviz.exercises in the reader's language; a class name (`cls`) in the reader's words."""
    params = {k: class_name(v) if k == "cls" else v for k, v in msg.params.items()}
    return t(msg.id, **params)


def exercise_key(ex: Exercise, where: str) -> str:
    """A short name of this exercise here: a widget key that changes when the exercise does."""
    digest = zlib.crc32(json.dumps(ex.data, sort_keys=True).encode())
    return f"{where}_{ex.kind}_{ex.seed if ex.seed is not None else 'v'}_{digest:08x}"


# ---------------------------------------------------------------- the question and its data

def _grids(t, ex: Exercise) -> None:
    lang = t.lang
    d = ex.data
    if ex.kind == "conv_cell":
        x, k = np.array(d["input"]), np.array(d["kernel"])
        ho, wo = (output_size(n, kn, d["stride"], d["padding"], d["dilation"]) for n, kn in zip(x.shape, k.shape))
        panels = [(x, t("ex.fig.input", h=x.shape[0], w=x.shape[1]), "input", None),
                  (k, t("ex.fig.kernel", h=k.shape[0], w=k.shape[1]), "kernel", None),
                  (np.full((ho, wo), np.nan), t("ex.fig.output", h=ho, w=wo), "output", (d["row"], d["col"]))]
    else:  # pool_cell
        x = np.array(d["input"])
        ho, wo = (output_size(n, d["size"], d["stride"]) for n in x.shape)
        panels = [(x, t("ex.fig.input", h=x.shape[0], w=x.shape[1]), "input", None),
                  (np.full((ho, wo), np.nan), t("ex.fig.output", h=ho, w=wo), "output", (d["row"], d["col"]))]
    widths = [max(v.shape[1], 2) + 1 for v, *_ in panels]
    for col, (values, title, role, ask) in zip(st.columns(widths), panels):
        chart(shared_cache.figure(grid_figure, values, title, role, ask, 36 if presenting() else CELL_PX, lang=lang),
              key=f"{exercise_key(ex, 'fig')}_{role}", config={"displayModeBar": False}, container=col)


def _metrics(t, items: list[tuple[str, object]]) -> None:
    for col, (label, value) in zip(st.columns(len(items)), items):
        col.metric(label, value)


def question(t, ex: Exercise) -> None:
    """The question and its data, drawn for a projector and a phone."""
    d = ex.data
    st.markdown(say(t, ex.question()))
    if ex.kind in ("conv_cell", "pool_cell"):
        _grids(t, ex)
    elif ex.kind == "conv_output_size":
        _metrics(t, [(t("ex.m.n"), d["n"]), (t("ex.m.k"), d["k"]), (t("ex.m.stride"), d["stride"]),
                     (t("ex.m.padding"), d["padding"]), (t("ex.m.dilation"), d["dilation"])])
    elif ex.kind == "conv_params":
        _metrics(t, [(t("ex.m.c_in"), d["c_in"]), (t("ex.m.c_out"), d["c_out"]), (t("ex.m.k"), d["k"]),
                     (t("ex.m.bias"), t("ex.yes") if d["bias"] else t("ex.no"))])
        st.code(f"nn.Conv2d({d['c_in']}, {d['c_out']}, {d['k']}{'' if d['bias'] else ', bias=False'})",
                language="python")
    elif ex.kind == "fc_inputs":
        from cnnviz.architecture import pytorch_code
        from cnnviz.exercises import fc_config

        st.code(pytorch_code(fc_config(d)), language="python")
    elif ex.kind == "receptive_field":
        table = pd.DataFrame([{t("ex.col.layer"): i, t("ex.col.k"): r["k"], t("ex.col.stride"): r["stride"],
                               t("ex.col.padding"): r["padding"], t("ex.col.dilation"): r["dilation"]}
                              for i, r in enumerate(d["layers"], start=1)])
        st.dataframe(table, hide_index=True, width="content")
    elif ex.kind == "predict":
        from cnnviz.exercises import predict_images
        from cnnviz.figures import input_figure

        chart(shared_cache.figure(input_figure, predict_images().images[d["index"]],
                                  t("ex.fig.test_image", n=str(d["index"])), height=320, lang=t.lang),
              key=f"{exercise_key(ex, 'fig')}_image", config={"displayModeBar": False})


# ---------------------------------------------------------------- answering

def _record(where: str, ex: Exercise, typed: str, value, right: bool, hint: Msg | None) -> None:
    S.setdefault(ANSWERS_KEY, []).append(dict(
        time_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"), screen=where, kind=ex.kind,
        seed="" if ex.seed is None else ex.seed,
        exercise=f"/exercises?kind={ex.kind}&seed={ex.seed}" if ex.seed is not None else "",
        key=exercise_key(ex, where), typed=str(typed)[:MAX_ANSWER_CHARS], value=value,
        right_answer=ex.answer_text("en") if ex.kind == "predict" else ex.answer, right=right,
        hint=hint.id if hint is not None else ""))


def _submit(t, ex: Exercise, where: str, key: str) -> None:
    """The form's callback: read the answer, record it, keep the feedback to show."""
    raw = S.get(f"{key}_answer")
    if ex.kind == "predict":
        if raw is None:
            S[f"{key}_feedback"] = ("error", Msg("ex.err.choose"))
            return
        typed, value = ex.data["classes"][int(raw)], int(raw)
    else:
        typed = "" if raw is None else str(raw)
        try:
            value = parse_answer(typed, t.lang)
        except CnnvizError as exc:
            S[f"{key}_feedback"] = ("error", Msg(exc.code, **exc.params))
            return
    right = ex.check(value)
    hint = None if right else ex.diagnose(value)
    _record(where, ex, typed, value, right, hint)
    S[f"{key}_feedback"] = ("right", None) if right else ("wrong", hint)


def answer(t, ex: Exercise, where: str, link: bool = True) -> None:
    """The answer field, the feedback (right, or the hint of a wrong answer), the worked solution and its link."""
    key = exercise_key(ex, where)
    with st.form(f"{key}_form", border=True):
        if ex.kind == "predict":
            st.radio(t("ex.your_class"), list(range(len(ex.data["classes"]))), index=None, horizontal=True,
                     format_func=lambda i: class_name(ex.data["classes"][i]), key=f"{key}_answer")
        else:
            st.text_input(t("ex.your_answer"), key=f"{key}_answer", max_chars=MAX_ANSWER_CHARS,
                          placeholder=t("ex.placeholder"), help=t("ex.answer_help"))
        st.form_submit_button(t("ex.check"), type="primary", on_click=_submit, args=(t, ex, where, key),
                              icon=":material/check:")
    status, hint = S.get(f"{key}_feedback", (None, None))
    if status == "error":
        st.error(plain(say(t, hint)), icon=":material/error:")
    elif status == "right":
        st.success(t("ex.right", value=ex.answer_text(t.lang) if ex.kind != "predict" else class_name(
            ex.answer_text())), icon=":material/celebration:")
    elif status == "wrong":
        st.warning(t("ex.wrong") + " " + say(t, hint), icon=":material/lightbulb:")
    tried = any(a.get("key") == key for a in S.get(ANSWERS_KEY, []))
    if status == "right" or st.toggle(t("ex.show_solution"), key=f"{key}_solution", disabled=not tried,
                                      help=None if tried else t("ex.solution_after")):
        solution(t, ex, link)


def solution(t, ex: Exercise, link: bool = True) -> None:
    st.markdown("**" + t("ex.solution") + "**")
    st.markdown("\n".join(f"{i}. {say(t, m)}" for i, m in enumerate(ex.solution(t.lang), start=1)))
    if ex.kind == "predict":
        from cnnviz.exercises import prediction
        from cnnviz.figures import probability_figure

        probs = prediction(ex.data["index"]).probs
        names = tuple(class_name(c) for c in ex.data["classes"])
        chart(shared_cache.figure(probability_figure, probs, names, ex.data["label"], lang=t.lang),
              key=f"{exercise_key(ex, 'sol')}_probs", config={"displayModeBar": False})
    target = link_for(ex) if link else None
    if target is not None:
        screen_id, values = target
        st.page_link(BY_ID[screen_id].file, label=t(SCREEN_LABELS[screen_id]), icon=BY_ID[screen_id].icon,
                     query_params=query_for(screen_id, t.lang, **values))


# ---------------------------------------------------------------- the screen that shows the example

def _grid_text(rows) -> str:
    return format_grid(np.array(rows))


def _arch_shape(shape) -> dict:
    for preset, fixed in ARCH_SHAPES.items():
        if fixed is not None and tuple(fixed) == tuple(shape):
            return dict(preset=preset)
    c, h, w = shape
    return dict(preset="custom", c=c, h=h, w=w)


def link_for(ex: Exercise) -> tuple[str, dict] | None:
    """(screen id, its settings) of the screen that shows this very example, or None when none can."""
    d = ex.data
    try:
        if ex.kind == "conv_cell":
            wo = output_size(len(d["input"][0]), len(d["kernel"][0]), d["stride"], d["padding"], d["dilation"])
            values = dict(input=_grid_text(d["input"]), kernel=_grid_text(d["kernel"]), stride=d["stride"],
                          padding=d["padding"], dilation=d["dilation"], step=d["row"] * wo + d["col"] + 1)
            return _checked("convolution", values)
        if ex.kind == "pool_cell":
            wo = output_size(len(d["input"][0]), d["size"], d["stride"])
            values = dict(input=_grid_text(d["input"]), mode=d["mode"], size=d["size"], stride=d["stride"],
                          step=d["row"] * wo + d["col"] + 1)
            return _checked("pooling", values)
        if ex.kind == "conv_output_size":
            n, k = d["n"], d["k"]
            grid = _grid_text([[(i + j) % 2 for j in range(n)] for i in range(n)]) if n <= 12 else ""
            values = dict(input=grid, kernel=_grid_text(np.ones((k, k), dtype=int)), stride=d["stride"],
                          padding=d["padding"], dilation=d["dilation"], step=1)
            return _checked("convolution", values) if n <= 12 and k <= 7 else (
                _checked("architecture", dict(_arch_shape((1, n, n)), layers=format_layers([(1, k, d["padding"], 0)])))
                if d["stride"] == 1 and d["dilation"] == 1 else None)
        if ex.kind == "conv_params":
            if d["c_in"] == 3 and d["c_out"] <= 4 and d["k"] <= 5:
                return _checked("multichannel", dict(filters=d["c_out"], k=d["k"], use_bias=d["bias"], edited=False))
            if d["bias"]:
                side = max(32, d["k"])
                return _checked("architecture", dict(_arch_shape((d["c_in"], side, side)),
                                                     layers=format_layers([(d["c_out"], d["k"], 0, 0)])))
            return None
        if ex.kind == "fc_inputs":
            layers = format_layers([(r["filters"], r["k"], r["padding"], r["pool"]) for r in d["layers"]])
            return _checked("architecture", dict(_arch_shape(d["input_shape"]), layers=layers))
        if ex.kind == "receptive_field":
            return _rf_link(d["layers"])
        if ex.kind == "predict":
            from cnnviz.exercises import predict_images

            labels = predict_images().labels
            label = int(labels[d["index"]])
            return _checked("feature_maps", dict(cls=str(label), idx=int((labels[:d["index"]] == label).sum())))
    except (ValueError, KeyError, TypeError):
        return None
    return None


def _rf_link(layers: list[dict]) -> tuple[str, dict] | None:
    """Architecture's conv blocks (stride 1, no dilation) each followed or not by a 2×2 max-pooling."""
    rows, stage, i = [], "", 0
    while i < len(layers):
        conv = layers[i]
        if conv["stride"] != 1 or conv["dilation"] != 1:
            return None
        pool = i + 1 < len(layers) and layers[i + 1] == dict(k=2, stride=2, padding=0, dilation=1)
        rows.append((8, conv["k"], conv["padding"], pool))
        stage = f"pool{len(rows)}" if pool else f"conv{len(rows)}"
        i += 2 if pool else 1
    from cnnviz.architecture import trace_config, validate_layers

    for side in (32, 64, 128, 256, 512):  # the smallest input whose maps keep a pixel to the last stage
        if trace_config(validate_layers(rows, (1, side, side))).fc1_in is not None:
            return _checked("architecture", dict(preset="custom", c=1, h=side, w=side, layers=format_layers(rows),
                                                 rf_stage=stage))
    return None


def _checked(screen_id: str, values: dict) -> tuple[str, dict] | None:
    """The link only when every value is one the screen accepts (query_for raises ValueError otherwise)."""
    try:
        query_for(screen_id, None, **values)
    except (ValueError, StopIteration):
        return None
    return screen_id, values


# ---------------------------------------------------------------- score, answers, next exercise

def next_seed(state) -> None:
    """'Next exercise': a new seed, drawn at random."""
    seed = state.seed
    while seed == state.seed:
        seed = secrets.randbelow(MAX_SEED + 1)
    state.seed = seed


def answers_csv(answers: list[dict]) -> str:
    """The session's answers as CSV; a typed text that a spreadsheet would read as a formula gets a quote first."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for a in answers:
        typed = str(a.get("typed", ""))
        if typed[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(typed):
            typed = "'" + typed
        writer.writerow(dict(a, typed=typed, right="yes" if a.get("right") else "no"))
    return out.getvalue()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def score(t) -> None:
    """The session's score (exercises right at the first answer) and "Download my answers"."""
    answers = S.get(ANSWERS_KEY, [])
    first = {}
    for a in answers:
        first.setdefault(a["key"], a["right"])
    st.divider()
    left, right = st.columns([3, 2])
    left.markdown(t("ex.score", right=sum(first.values()), n=len(first), answers=len(answers)))
    right.download_button(t("ex.download"), answers_csv(answers), file_name="cnnviz-answers.csv", mime="text/csv",
                          on_click="ignore", disabled=not answers, icon=":material/download:", key="ex_download")


# ---------------------------------------------------------------- "Check yourself" on a screen

def check_yourself(t, screen_id: str) -> None:
    """A folded box that asks about the view on screen (not in the presenter view): one call per page.

    Folded, its question is not built (Streamlit runs a folded expander's code unless it tracks its state):
    opening it reruns only the box (a fragment), which then draws the question and the answer field."""
    if presenting():
        return
    _check_yourself_box(t, screen_id)


@st.fragment
def _check_yourself_box(t, screen_id: str) -> None:
    screen = BY_ID[screen_id]
    settings = {f.name: S.get(screen.key(f.name), f.default) for f in screen.fields}
    seed_key = f"cy_{screen_id}_seed"
    ex = about_view(screen_id, settings, S.get(seed_key, 0))
    if ex is None:
        return
    box = st.expander(t("ex.box.title"), icon=":material/quiz:", key=box_key(screen_id), on_change="rerun")
    if not box.open:
        return
    with box:
        st.caption(t("ex.box.intro"))
        question(t, ex)
        answer(t, ex, f"cy_{screen_id}", link=False)
        st.button(t("ex.box.other"), key=f"cy_{screen_id}_other", on_click=lambda: S.update({seed_key: S.get(seed_key, 0) + 1}))


def box_key(screen_id: str) -> str:
    """The "Check yourself" box's widget key on a screen (True while it is open)."""
    return f"cy_{screen_id}_open"
