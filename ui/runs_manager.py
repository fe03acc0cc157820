"""The Training screen's saved runs: several overlaid on one chart with their settings in a table, and one run
renamed, deleted or downloaded (only files of the runs folder; names checked by cnnviz.runs). The runs this
browser session trained are compared by default."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.charts import chart
from ui.frame import State
from ui.screens import BY_ID
from ui.timeline_view import scrub_runs
from ui.widgets import arch_name, dataset_name, numbers_as_text, plain, show_error, skipped_notice

SCREEN = BY_ID["training"]
SESSION_RUNS = SCREEN.key("session_runs")  # names of the runs this session trained
RENAMED = SCREEN.key("compare_renamed")  # (old, new): a run renamed, kept in the comparison under its new name
COMPARE = "train_compare"  # the multiselect of the runs compared


def remember_run(name: str) -> None:
    """A run this session trained: compared by default."""
    mine = st.session_state.setdefault(SESSION_RUNS, [])
    if name not in mine:
        mine.append(name)


def export_button(t, path, key: str) -> None:
    """Download a run: its checkpoint, net.py (its architecture as PyTorch code) and a README, in one .zip."""
    from cnnviz import CnnvizError
    from cnnviz.runs import export_name

    try:
        data = _export(str(path), Path(path).stat().st_mtime, t.lang)
    except (CnnvizError, OSError) as exc:
        if isinstance(exc, CnnvizError):
            show_error(exc)
        return
    st.download_button(t("train.export"), data, file_name=export_name(path), mime="application/zip",
                       icon=":material/download:", key=key, help=t("train.export_help"))


@st.cache_data(show_spinner=False, max_entries=8)
def _export(path: str, mtime: float, lang: str) -> bytes:
    from cnnviz.runs import export_zip

    return export_zip(path, lang)


@st.cache_data(show_spinner=False, max_entries=256)
def _summary(path: str, mtime: float):
    from cnnviz.runs import summary

    return summary(path)


def saved_runs(skipped: list | None = None):
    """The runs folder's runs (newest first), each read once per file version; [(name, why)] of the files
    that are not runs, or whose names are not run names (cnnviz.runs.run_files), go to `skipped`."""
    from cnnviz import CnnvizError
    from cnnviz.runs import run_files

    out = []
    for p in run_files(skipped=skipped):
        try:
            out.append(_summary(str(p), p.stat().st_mtime))
        except CnnvizError as exc:
            if skipped is not None:
                skipped.append((p.name, exc))
        except OSError:
            continue  # deleted meanwhile
    return sorted(out, key=lambda r: r.mtime, reverse=True)


def _settings_row(label: str, r) -> dict:
    from cnnviz.training import CUSTOM_ARCH, CUSTOM_MODEL

    s = r.settings
    arch = CUSTOM_MODEL if r.arch == CUSTOM_ARCH else r.arch
    return dict(run=label, dataset=dataset_name(r.dataset), arch=arch_name(arch), layers=s.get("layers"),
                fc=s.get("fc"), lr=s.get("lr"), momentum=s.get("momentum"), batch=s.get("batch"),
                val=s.get("val"), epochs=r.epochs, accuracy=None if r.test_accuracy != r.test_accuracy else r.test_accuracy,
                seconds=r.train_seconds)


def compare_runs(t, job) -> None:
    """Saved runs (and the current job) overlaid on one chart, their settings in a table; rename, delete, export."""
    import pandas as pd

    from cnnviz.figures_runs import compare_figure

    S = st.session_state
    skipped = []
    runs = saved_runs(skipped)
    st.header(t("train.compare"))
    skipped_notice(t, skipped)
    if not runs:
        st.caption(t("train.compare_none"))
        return
    by_name = {r.name: r for r in runs}
    mine = [n for n in S.get(SESSION_RUNS, []) if n in by_name]
    renamed = S.pop(RENAMED, None)
    if renamed and COMPARE in S:
        S[COMPARE] = [renamed[1] if n == renamed[0] else n for n in S[COMPARE]]
    if COMPARE not in S or not set(S[COMPARE]) <= set(by_name):
        S[COMPARE] = [n for n in S.get(COMPARE, []) if n in by_name] or mine or list(by_name)[:2]
    chosen = st.multiselect(t("train.compare_pick"), list(by_name), key=COMPARE, help=t("train.compare_help"))
    if chosen:
        picked = [by_name[n] for n in chosen]
        chart(compare_figure([(r.name, r.history) for r in picked], lang=t.lang), key="train_compare_chart")
        rows, right = numbers_as_text(t, [_settings_row(r.name, r) for r in picked], {
            "fc": "", "lr": "g", "momentum": "g", "batch": "", "val": ".0%", "epochs": ".2f", "accuracy": ".2%",
            "seconds": ".0f"})  # in the reader's language, not the browser's
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="train_compare_table", column_config={
            "run": t("train.col_run"), "dataset": t("train.col_dataset"), "arch": t("train.col_arch"),
            "layers": t("train.col_layers"),
            **{k: {**right[k], "label": t(msg)} for k, msg in (
                ("fc", "train.col_fc"), ("lr", "train.col_lr"), ("momentum", "train.col_momentum"),
                ("batch", "train.col_batch"), ("val", "train.col_val"), ("epochs", "train.col_epochs"),
                ("accuracy", "train.col_accuracy"), ("seconds", "train.col_seconds"))}})
        scrub_runs(t, State(SCREEN), picked)
    manage_runs(t, by_name, job)


def manage_runs(t, by_name: dict, job) -> None:
    """Rename, delete or download one saved run (only files of the runs folder; names checked by cnnviz.runs)."""
    from cnnviz import CnnvizError
    from cnnviz.runs import delete_run, rename_run

    S = st.session_state
    with st.expander(t("train.manage")):
        name = st.selectbox(t("train.manage_pick"), list(by_name), key="train_manage_run")
        if name is None:
            return
        busy = job is not None and job.alive
        current = job.snapshot().saved_path if job is not None else None
        st.text(name)
        c1, c2 = st.columns([3, 1])
        new = c1.text_input(t("train.rename_to"), key="train_rename_to", max_chars=100, help=t("train.rename_help"))
        try:
            if c2.button(t("train.rename"), icon=":material/edit:", key="train_rename", disabled=not new):
                target = rename_run(name, new)
                S[SESSION_RUNS] = [target.name if n == name else n for n in S.get(SESSION_RUNS, [])]
                S[RENAMED] = (name, target.name)
                st.toast(t("train.renamed", name=plain(target.name)))
                st.rerun()
            sure = c1.checkbox(t("train.delete_confirm"), key="train_delete_sure_" + name)
            is_live = busy and current is not None and Path(current).name == name
            if c2.button(t("train.delete"), icon=":material/delete:", key="train_delete", disabled=not sure or is_live):
                delete_run(name)
                st.toast(t("train.deleted", name=plain(name)))
                st.rerun()
        except CnnvizError as exc:
            show_error(exc)
        export_button(t, by_name[name].path, key="train_export_saved")
