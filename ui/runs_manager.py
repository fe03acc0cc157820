"""The Training screen's saved runs: several overlaid on one chart with their settings in a table, and one run
renamed, deleted or downloaded (only files of the runs folder; names checked by cnnviz.runs). Each run says whose
it is (ui/training_owner.py): this browser's runs are compared by default, each new one joins the comparison as
soon as it is saved and becomes the one "Rename, delete or download" shows; only its owner or the instructor may
rename or delete a run."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.charts import chart
from ui.frame import State
from ui.screens import BY_ID
from ui.timeline_view import scrub_runs
from ui.widgets import arch_name, dataset_name, numbers_as_text, plain, show_error, skipped_notice

SCREEN = BY_ID["training"]
SEEN = SCREEN.key("compare_seen")  # this browser's runs already offered to the comparison (names)
RENAMED = SCREEN.key("compare_renamed")  # (old, new): a run renamed, kept in the comparison under its new name
COMPARE = "train_compare"  # the multiselect of the runs compared
MANAGED = "train_manage_run"  # the run "Rename, delete or download" shows
PRESELECT = 5  # this browser's newest runs compared when the screen opens
WHOSE = {"yours": "train.whose_yours", "others": "train.whose_others", "server": "train.whose_server"}
NOT_YOURS = {"others": "train.not_yours_others", "server": "train.not_yours_server"}  # why Rename / Delete are off


def export_bytes_button(t, name: str, data: bytes, key: str) -> None:
    """Download a run held in memory (its folder could not take it), as export_button does a saved one."""
    from cnnviz import CnnvizError
    from cnnviz.runs import export_bytes, export_name

    try:
        zipped = export_bytes(data, name, t.lang)
    except CnnvizError as exc:
        show_error(exc)
        return
    st.download_button(t("train.export"), zipped, file_name=export_name(name), mime="application/zip",
                       icon=":material/download:", key=key, help=t("train.export_help"), type="primary")


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
    from ui.training_owner import whose

    s = r.settings
    arch = CUSTOM_MODEL if r.arch == CUSTOM_ARCH else r.arch
    return dict(run=label, whose=whose(r.owner), dataset=dataset_name(r.dataset), arch=arch_name(arch),
                layers=s.get("layers"),
                fc=s.get("fc"), lr=s.get("lr"), momentum=s.get("momentum"), batch=s.get("batch"),
                val=s.get("val"), epochs=r.epochs, accuracy=None if r.test_accuracy != r.test_accuracy else r.test_accuracy,
                seconds=r.train_seconds)


def compare_runs(t, job) -> None:
    """Saved runs (and the current job) overlaid on one chart, their settings in a table; rename, delete, export."""
    import pandas as pd

    from cnnviz.figures_runs import compare_figure

    skipped = []
    runs = saved_runs(skipped)
    st.header(t("train.compare"))
    skipped_notice(t, skipped)
    if not runs:
        st.caption(t("train.compare_none"))
        return
    by_name = {r.name: r for r in runs}
    _preselect(by_name, job)
    chosen = st.multiselect(t("train.compare_pick"), list(by_name), key=COMPARE, help=t("train.compare_help"))
    if chosen:
        picked = [by_name[n] for n in chosen]
        chart(compare_figure([(r.name, r.history) for r in picked], lang=t.lang), key="train_compare_chart")
        rows, right = numbers_as_text(t, [_settings_row(r.name, r) for r in picked], {
            "fc": "", "lr": "g", "momentum": "g", "batch": "", "val": ".0%", "epochs": ".2f", "accuracy": ".2%",
            "seconds": ".0f"})  # in the reader's language, not the browser's
        for row in rows:
            row["whose"] = t(WHOSE[row["whose"]])
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="train_compare_table", column_config={
            "run": t("train.col_run"), "whose": t("train.col_whose"), "dataset": t("train.col_dataset"),
            "arch": t("train.col_arch"), "layers": t("train.col_layers"),
            **{k: {**right[k], "label": t(msg)} for k, msg in (
                ("fc", "train.col_fc"), ("lr", "train.col_lr"), ("momentum", "train.col_momentum"),
                ("batch", "train.col_batch"), ("val", "train.col_val"), ("epochs", "train.col_epochs"),
                ("accuracy", "train.col_accuracy"), ("seconds", "train.col_seconds"))}})
        scrub_runs(t, State(SCREEN), picked)
    manage_runs(t, by_name, job)


def _preselect(by_name: dict, job) -> None:
    """This browser's runs in the comparison: its newest ones when the screen opens, then each new one as soon as it
    is saved (a run taken out by hand stays out); "Rename, delete or download" shows the newest new one, and never a
    run that is gone."""
    from ui.training_owner import YOURS, whose

    S = st.session_state
    mine = [n for n, r in by_name.items() if whose(r.owner) == YOURS]  # newest first
    renamed = S.pop(RENAMED, None)
    seen = S.get(SEEN)
    if renamed:
        if COMPARE in S:
            S[COMPARE] = [renamed[1] if n == renamed[0] else n for n in S[COMPARE]]
        if seen is not None:
            seen.append(renamed[1])
        S[MANAGED] = renamed[1]
    if COMPARE not in S or seen is None:
        S[COMPARE] = [n for n in S.get(COMPARE, []) if n in by_name] or mine[:PRESELECT]
        new = mine[:1]
    else:
        new = [n for n in mine if n not in seen]
        S[COMPARE] = [n for n in S[COMPARE] if n in by_name] + [n for n in reversed(new) if n not in S[COMPARE]]
    S[SEEN] = list(mine)
    current = job.snapshot().saved_path if job is not None else None
    if current is not None and Path(current).name in by_name and Path(current).name in new:
        S[MANAGED] = Path(current).name
    elif new:
        S[MANAGED] = new[0]
    elif S.get(MANAGED) not in by_name:
        S[MANAGED] = (mine or list(by_name))[0]


def manage_runs(t, by_name: dict, job) -> None:
    """Rename, delete or download one saved run (only files of the runs folder; names checked by cnnviz.runs; only
    the run's owner or the instructor may rename or delete it: cnnviz.runs checks it again)."""
    from cnnviz import CnnvizError
    from cnnviz.runs import delete_run, rename_run
    from ui.training_owner import instructor_form, requester, whose

    S = st.session_state
    with st.expander(t("train.manage")):
        labels = {n: t(WHOSE[whose(r.owner)]) + " — " + n for n, r in by_name.items()}  # computed now, not later
        name = st.selectbox(t("train.manage_pick"), list(by_name), key=MANAGED, format_func=labels.get)
        if name is None:
            return
        busy = job is not None and job.alive
        current = job.snapshot().saved_path if job is not None else None
        who = requester()
        allowed = who.may_change(by_name[name].owner)
        st.text(name)
        if not allowed:
            st.caption(t(NOT_YOURS.get(whose(by_name[name].owner), "train.not_yours_others")))
        c1, c2 = st.columns([3, 1])
        new = c1.text_input(t("train.rename_to"), key="train_rename_to", max_chars=100, help=t("train.rename_help"),
                            disabled=not allowed)
        try:
            if c2.button(t("train.rename"), icon=":material/edit:", key="train_rename", disabled=not new or not allowed):
                target = rename_run(name, new, by=who)
                if job is not None:
                    job.moved(name, target)
                S[RENAMED] = (name, target.name)
                st.toast(t("train.renamed", name=plain(target.name)))
                st.rerun()
            sure = c1.checkbox(t("train.delete_confirm"), key="train_delete_sure_" + name, disabled=not allowed)
            is_live = busy and current is not None and Path(current).name == name
            if c2.button(t("train.delete"), icon=":material/delete:", key="train_delete",
                         disabled=not sure or is_live or not allowed):
                delete_run(name, by=who)
                st.toast(t("train.deleted", name=plain(name)))
                st.rerun()
        except CnnvizError as exc:
            show_error(exc)
        export_button(t, by_name[name].path, key="train_export_saved")
        instructor_form(t)
