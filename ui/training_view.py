"""The Training screen's pieces: the server-wide training slots and limits, the browser session that owns a job,
a job's settings as the screen's settings, the test phase.

The job saves its run itself (`TrainingJob.autosave()`: once per state, when its worker ends); the screen only
shows what the job reports.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import streamlit as st

from ui.screens import BY_ID
from ui.widgets import class_name, class_names, plain, show_error, skipped_notice

OWNER_GRACE_S = 30.0  # a session away longer than this (tab closed, not a network hiccup) has left


@st.cache_resource
def training_slots(max_jobs: int) -> threading.BoundedSemaphore:
    """At most `max_jobs` trainings at once on this server, whatever the number of sessions."""
    return threading.BoundedSemaphore(max_jobs)


def limits() -> tuple[int, float]:
    """(most trainings at once, longest training in seconds): CNNVIZ_MAX_JOBS, CNNVIZ_MAX_TRAIN_SECONDS."""
    try:
        from cnnviz.config import load_settings

        settings = load_settings()
        return int(settings.max_jobs), float(settings.max_train_seconds)
    except (ImportError, AttributeError):
        return int(os.environ.get("CNNVIZ_MAX_JOBS", 2)), float(os.environ.get("CNNVIZ_MAX_TRAIN_SECONDS", 600))


def owner_alive_check(grace: float = OWNER_GRACE_S):
    """A function telling a job whether the browser session that started it is still there, or None where
    there is no Streamlit server (AppTest, bare mode): such a job is stopped by its time limit only.

    It asks the server whether the session is active (Streamlit 1.67: Runtime.is_active_session, safe from
    any thread); a session disconnected for less than `grace` seconds (a network hiccup, which Streamlit
    resumes) still counts as there.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if not Runtime.exists() or ctx is None:
        return None
    runtime, session_id = Runtime.instance(), ctx.session_id
    last_seen = [time.monotonic()]

    def alive() -> bool:
        if runtime.is_active_session(session_id):
            last_seen[0] = time.monotonic()
            return True
        return time.monotonic() - last_seen[0] < grace

    return alive


def settings_of(config) -> dict:
    """A job's TrainConfig as the Training screen's settings (name -> value)."""
    from cnnviz.runs import layers_text

    out = dict(dataset=config.dataset, model=config.arch, loss=config.loss, lr=float(config.lr),
               momentum=float(config.momentum), batch=int(config.batch_size), epochs=int(config.epochs),
               subset=int(config.subset), seed=int(config.seed), val=int(round(config.val_fraction * 100)),
               live=bool(config.live_every))
    if config.net is not None:  # the Architecture screen's network
        convs = config.net.get("convs", ())
        out.update(model="custom", layers=layers_text(config.net), fc=int(config.net["fc_width"]),
                   bn=any(c.get("batchnorm") for c in convs), dropout=float(config.net.get("dropout", 0.0)))
    return out


def custom_net(layers: str, fc: int, bn: bool, dropout: float) -> dict:
    """The ConvNetConfig dict of the settings layers/fc/bn/dropout (input shape and classes: the data's)."""
    from cnnviz.models import ConvNetConfig, ConvSpec
    from ui.screens import parse_layers

    convs = tuple(ConvSpec(f, k, p, bool(pool), batchnorm=bool(bn)) for f, k, p, pool in parse_layers(layers))
    return ConvNetConfig((1, 28, 28), convs, int(fc), 10, dropout=float(dropout)).to_dict()


def arch_of(state) -> tuple[str, dict | None]:
    """(TrainConfig.arch, TrainConfig.net) of the screen's model setting."""
    from cnnviz.training import CUSTOM_ARCH

    if state.model == "custom":
        return CUSTOM_ARCH, custom_net(state.layers, state.fc, state.bn, state.dropout)
    return state.model, None


@st.cache_data(show_spinner=False, max_entries=64)
def epoch_estimate(arch: str, net_json: str, input_shape: tuple, batch: int, n_images: int, eval_images: int,
                   device: str) -> float:
    """Seconds per epoch, measured once per network, batch size and data size (cnnviz.training)."""
    import json

    from cnnviz.training import estimate_epoch_seconds

    net = json.loads(net_json) if net_json else None
    return estimate_epoch_seconds(arch, net, input_shape, 10, batch, n_images, device, eval_images=eval_images)


def device_line(t) -> str:
    """"Device: cpu" or "cuda (NVIDIA H200)"; a CNNVIZ_DEVICE that cannot be used is said (then the CPU)."""
    from cnnviz.training import device_label, resolve_device

    device, warnings = resolve_device()
    for w in warnings:  # "cuda" on a machine without a GPU: said here too (the sidebar says it for the server)
        st.warning(t("train.device_fallback", value=plain(str(w.params.get("value", ""))), device=device),
                   icon=":material/memory:")
    st.caption(t("train.device", device=device_label(device)))
    return device


@st.cache_data(show_spinner=False, max_entries=64)
def parameter_count(arch: str, net_json: str, input_shape: tuple, n_classes: int) -> int:
    """Parameters of a network, built on PyTorch's meta device (no memory); ShapeError when it does not fit."""
    import json

    import torch

    from cnnviz.models import build_model, count_parameters
    from cnnviz.training import net_for_data

    net = json.loads(net_json) if net_json else None
    with torch.device("meta"):
        return count_parameters(build_model(arch, input_shape, n_classes, net_for_data(net, input_shape, n_classes)))


def preview(t, state, train, device: str, eval_images: int) -> None:
    """Before Start: the chosen network's parameters and an estimate of an epoch's time on this machine."""
    import json

    from cnnviz import CnnvizError
    from cnnviz.training import SettingError, network_cost

    arch, net = arch_of(state)
    if net is not None:  # a linked network is checked on the meta device first (its size, its shapes)
        try:
            network_cost(net, train.input_shape, len(train.classes))
        except SettingError as exc:
            from ui.frame import stop

            show_error(exc)
            stop()
    net_json = json.dumps(net, sort_keys=True) if net else ""
    params = parameter_count(arch, net_json, tuple(train.input_shape), len(train.classes))
    n = state.subset if 0 < state.subset < len(train) else len(train)
    n_val = int(round(n * state.val / 100))
    try:
        seconds = epoch_estimate(arch, net_json, tuple(train.input_shape), int(state.batch), n - n_val,
                                 n_val + eval_images, device)
    except (CnnvizError, RuntimeError):
        seconds = float("nan")
    st.info(t("train.preview", params=params, seconds=seconds, train=n - n_val, val=n_val),
            icon=":material/timer:")


STATUS = {"idle": "train.status_idle", "running": "train.status_running", "stopped": "train.status_stopped",
          "finished": "train.status_finished", "diverged": "train.status_diverged",
          "failed": "train.status_failed", "closed": "train.status_closed"}


def draw_job(t, job, eval_limit: int) -> None:
    """The loss curve, the progress and the job's figures and messages (the live part of the screen)."""
    from cnnviz.figures import loss_figure
    from cnnviz.i18n import format_number
    from cnnviz.training import moving_average

    lang = t.lang
    snap, cfg = job.snapshot(), job.config
    marks = [e * snap.batches_per_epoch for e in range(1, snap.epoch + 1)]
    st.plotly_chart(loss_figure(snap.losses, moving_average(snap.losses), marks, lang=lang), key="train_loss_chart")
    st.progress(snap.progress, text=t("train.progress", epoch=min(snap.epoch + 1, cfg.epochs), epochs=cfg.epochs,
                                      batch=snap.batch, per_epoch=snap.batches_per_epoch, step=snap.step,
                                      total=snap.total_steps))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("train.last_loss"), format_number(lang, snap.losses[-1], ".4f") if snap.losses else "—")
    m2.metric(t("train.speed"), format_number(lang, snap.images_per_s, ".0f"))
    accs = snap.epoch_accuracy
    m3.metric(t("train.epoch_accuracy", n=eval_limit), format_number(lang, accs[-1][1], ".2%") if accs else "—",
              help=t("train.epoch_accuracy_help", list=", ".join(f"{e}: {format_number(lang, a, '.2%')}"
                                                                  for e, a in accs) or "—"))
    m4.metric(t("train.status"), t(STATUS.get(snap.status, "train.status_failed")))
    message = t(snap.code, **(snap.params or {})) if snap.code else ""
    if snap.status in ("diverged", "failed"):
        st.error(message, icon=":material/error:")
    elif message and snap.status != "running":
        st.info(message)
    if snap.saving:
        st.info(t("train.saving"), icon=":material/hourglass_top:")


def show_results(t, job, test) -> None:
    """The test phase of a job that is not running: the evaluation and the run it saved itself."""
    snap = job.snapshot()
    if snap.step == 0:
        return
    st.subheader(t("train.test_phase"))
    if snap.save_error is not None:
        show_error(snap.save_error)
    if snap.saved_path:  # this session's runs: compared by default
        mine = st.session_state.setdefault("train_session_runs", [])
        if Path(snap.saved_path).name not in mine:
            mine.append(Path(snap.saved_path).name)
    report = snap.evaluation
    if report is None:  # the job could not evaluate on its way out (the server stopping): once, here
        with st.spinner(t("train.evaluating")):
            report = job.test_report(test)
    if report is None:
        st.info(t("train.no_test_set"))
        return
    show_test_phase(t, report, test, Path(snap.saved_path) if snap.saved_path else None)


def _open_in_feature_maps(index: int, path) -> None:
    """The Inspect button: the feature-map screen on this test image (any class, its index), with the network
    just trained."""
    screen = BY_ID["feature_maps"]
    S = st.session_state
    for name, value in (("network", path.name), ("source", "test"), ("cls", "any"), ("idx", int(index))):
        S[screen.key(name)] = value
    st.switch_page(screen.file)


def show_test_phase(t, report, test, path) -> None:
    """Accuracy, classification report, confusion matrix and a gallery of mistakes, each opening in Feature maps."""
    import numpy as np

    from cnnviz.figures import confusion_figure, input_figure

    lang = t.lang
    n = len(report.y_true)
    st.metric(t("train.test_accuracy"), t("train.percent", value=report.accuracy),
              help=t("train.test_accuracy_help", n=n))
    left, right = st.columns([1, 1])
    with left:
        st.markdown(t("train.report"))
        report_table(t, report, test.classes)
    right.plotly_chart(confusion_figure(report.confusion, class_names(test.classes), lang=lang),
                       key="train_confusion")
    if path is not None:
        st.caption(t("train.saved", name=plain(path.name)))
        export_button(t, path, key="train_export_current")

    wrong_all = np.flatnonzero(report.y_true != report.y_pred)
    wrong = wrong_all[:12]
    st.markdown(t("train.mistakes", n=len(wrong_all), shown=len(wrong)))
    cols = st.columns(6)
    for k, i in enumerate(wrong):
        with cols[k % 6]:
            st.plotly_chart(input_figure(test.images[i], height=150), key=f"train_wrong_{i}")
            st.caption(t("train.mistake", index=str(int(i)), true=class_name(test.classes[report.y_true[i]]),
                         pred=class_name(test.classes[report.y_pred[i]])))
            if path is not None and st.button(t("train.inspect"), icon=":material/map:", key=f"train_open_{i}",
                                              help=t("train.inspect_help")):
                _open_in_feature_maps(int(i), path)


def draw_live(t, job, test) -> None:
    """conv1's filters and its maps of one fixed test image, from the copy of the weights the loop takes every
    config.live_every seconds (the maps are computed here, in the page, never in the training loop)."""
    from cnnviz.figures import mosaic_figure
    from cnnviz.figures_runs import conv1_maps

    live = job.live_weights()
    if live is None or test is None:
        return
    step, weights, bias = live
    maps = conv1_maps(weights, bias, test.images[0], job.live_padding)
    left, right = st.columns(2)
    left.plotly_chart(mosaic_figure(weights.mean(axis=1), t("train.live_filters", step=step), max_maps=32,
                                    colorscale="RdBu_r", symmetric=True, height=260, lang=t.lang),
                      key="train_live_filters")
    right.plotly_chart(mosaic_figure(maps, t("train.live_maps", step=step), max_maps=32, colorscale="RdBu_r",
                                     symmetric=True, height=260, lang=t.lang), key="train_live_maps")


def draw_epochs(t, snap) -> None:
    """Per epoch: the training loss, the validation loss and accuracy (the run's history)."""
    from cnnviz.figures_runs import epoch_figure

    if snap.history:
        st.plotly_chart(epoch_figure(snap.history, lang=t.lang), key="train_epoch_chart")


def report_table(t, report, classes) -> None:
    """scikit-learn's classification report as a table: translated headers and class names."""
    import pandas as pd
    from sklearn.metrics import classification_report

    names = class_names(classes)
    d = classification_report(report.y_true, report.y_pred, labels=list(range(len(classes))),
                              target_names=[str(i) for i in range(len(classes))], zero_division=0, output_dict=True)
    rows = [dict(cls=names[i], precision=d[str(i)]["precision"], recall=d[str(i)]["recall"],
                 f1=d[str(i)]["f1-score"], support=int(d[str(i)]["support"])) for i in range(len(classes))]
    for key, label in (("macro avg", "train.report_macro"), ("weighted avg", "train.report_weighted")):
        rows.append(dict(cls=t(label), precision=d[key]["precision"], recall=d[key]["recall"],
                         f1=d[key]["f1-score"], support=int(d[key]["support"])))
    pct = dict(format="percent")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="train_report_table", column_config={
        "cls": t("train.report_class"),
        "precision": st.column_config.NumberColumn(t("train.report_precision"), **pct),
        "recall": st.column_config.NumberColumn(t("train.report_recall"), **pct),
        "f1": st.column_config.NumberColumn(t("train.report_f1"), **pct),
        "support": st.column_config.NumberColumn(t("train.report_support"), format="localized")})


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


def _settings_row(t, label: str, r) -> dict:
    s = r.settings
    return dict(run=label, dataset=r.dataset, arch="custom" if r.arch == "convnet" else r.arch, layers=s.get("layers"),
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
    st.subheader(t("train.compare"))
    skipped_notice(t, skipped)
    if not runs:
        st.caption(t("train.compare_none"))
        return
    by_name = {r.name: r for r in runs}
    mine = [n for n in S.get("train_session_runs", []) if n in by_name]
    renamed = S.pop("train_compare_renamed", None)  # (old, new): kept in the comparison under its new name
    if renamed and "train_compare" in S:
        S["train_compare"] = [renamed[1] if n == renamed[0] else n for n in S["train_compare"]]
    if "train_compare" not in S or not set(S["train_compare"]) <= set(by_name):
        S["train_compare"] = [n for n in S.get("train_compare", []) if n in by_name] or mine or list(by_name)[:2]
    chosen = st.multiselect(t("train.compare_pick"), list(by_name), key="train_compare",
                            help=t("train.compare_help"))
    if chosen:
        picked = [by_name[n] for n in chosen]
        st.plotly_chart(compare_figure([(r.name, r.history) for r in picked], lang=t.lang), key="train_compare_chart")
        table = pd.DataFrame([_settings_row(t, r.name, r) for r in picked])
        st.dataframe(table, hide_index=True, key="train_compare_table", column_config={
            "run": t("train.col_run"), "dataset": t("train.col_dataset"), "arch": t("train.col_arch"),
            "layers": t("train.col_layers"), "fc": t("train.col_fc"),
            "lr": st.column_config.NumberColumn(t("train.col_lr"), format="%g"),
            "momentum": st.column_config.NumberColumn(t("train.col_momentum"), format="%g"),
            "batch": t("train.col_batch"),
            "val": st.column_config.NumberColumn(t("train.col_val"), format="percent"),
            "epochs": st.column_config.NumberColumn(t("train.col_epochs"), format="%.2f"),
            "accuracy": st.column_config.NumberColumn(t("train.col_accuracy"), format="percent"),
            "seconds": st.column_config.NumberColumn(t("train.col_seconds"), format="%.0f")})
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
                S["train_session_runs"] = [target.name if n == name else n for n in S.get("train_session_runs", [])]
                S["train_compare_renamed"] = (name, target.name)
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


SHAPE_DATASETS = {(1, 28, 28): "fashion-mnist", (3, 32, 32): "cifar10"}  # input shapes that have data


def train_this_network(t, shape, layers: str, fc: int, bn: bool, dropout: float, ok: bool) -> None:
    """The Architecture screen's "Train this network": Training opens with it chosen (model "custom" and its
    layers, fc, bn, dropout settings: a link reproduces it) on the dataset of its input shape."""
    dataset = SHAPE_DATASETS.get(tuple(int(v) for v in shape))
    if st.button(t("arch.train_this"), icon=":material/model_training:", key="arch_train_this", type="primary",
                 disabled=dataset is None or not ok, help=t("arch.train_this_help")):
        screen = BY_ID["training"]
        values = dict(model="custom", dataset=dataset, layers=layers, fc=int(fc), bn=bool(bn), dropout=float(dropout))
        for name, value in values.items():
            st.session_state[screen.key(name)] = value
        st.switch_page(screen.file)
    if dataset is None:
        st.caption(t("arch.train_shape"))
    elif st.session_state.get("train_job") is not None:
        st.caption(t("arch.train_busy"))
