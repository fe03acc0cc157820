"""A training job as the Training screen draws it, while it runs (a fragment polls `job.snapshot()` every
second) and after: the loss curve, progress and figures, conv1's filters and maps live, the per-epoch curves."""

from __future__ import annotations

import streamlit as st

from ui.charts import chart

STATUS = {"idle": "train.status_idle", "running": "train.status_running", "stopped": "train.status_stopped",
          "finished": "train.status_finished", "diverged": "train.status_diverged",
          "failed": "train.status_failed", "closed": "train.status_closed"}


def draw_job(t, job) -> None:
    """The loss curve, the progress and the job's figures and messages (the live part of the screen)."""
    from cnnviz.figures import loss_figure
    from cnnviz.i18n import format_number
    from cnnviz.training import moving_average

    lang = t.lang
    snap, cfg = job.snapshot(), job.config
    marks = [e * snap.batches_per_epoch for e in range(1, snap.epoch + 1)]
    chart(loss_figure(snap.losses, moving_average(snap.losses), marks, lang=lang), key="train_loss_chart")
    st.progress(snap.progress, text=t("train.progress", epoch=min(snap.epoch + 1, cfg.epochs), epochs=cfg.epochs,
                                      batch=snap.batch, per_epoch=snap.batches_per_epoch, step=snap.step,
                                      total=snap.total_steps))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("train.last_loss"), format_number(lang, snap.losses[-1], ".4f") if snap.losses else "—")
    m2.metric(t("train.speed"), format_number(lang, snap.images_per_s, ".0f"))
    accs = snap.epoch_accuracy
    m3.metric(t("train.epoch_accuracy", n=cfg.eval_limit),
              format_number(lang, accs[-1][1], ".2%") if accs else "—",
              help=t("train.epoch_accuracy_help", list=", ".join(f"{e}: {format_number(lang, a, '.2%')}"
                                                                  for e, a in accs) or "—"))
    m4.metric(t("train.status"), t(STATUS.get(snap.status, "train.status_failed")))
    message = t(snap.code, **(snap.params or {})) if snap.code else ""
    if snap.status in ("diverged", "failed"):
        st.error(message, icon=":material/error:")
    elif message and snap.status != "running":
        st.info(message)
    if snap.saving:  # after Stop: the job evaluates the test set, then writes its run (Stop itself answered at once)
        done, total = snap.evaluated or (0, 0)
        if total:
            st.progress(done / total, text=t("train.evaluating_progress", done=done, total=total))
        else:
            st.info(t("train.saving"), icon=":material/hourglass_top:")


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
    chart(mosaic_figure(weights.mean(axis=1), t("train.live_filters", step=step), max_maps=32,
                                    colorscale="RdBu_r", symmetric=True, height=260, lang=t.lang),
                      key="train_live_filters", container=left)
    chart(mosaic_figure(maps, t("train.live_maps", step=step), max_maps=32, colorscale="RdBu_r",
                                     symmetric=True, height=260, lang=t.lang), key="train_live_maps", container=right)


def draw_epochs(t, snap) -> None:
    """Per epoch: the training loss, the validation loss and accuracy (the run's history)."""
    from cnnviz.figures_runs import epoch_figure

    if snap.history:
        chart(epoch_figure(snap.history, lang=t.lang), key="train_epoch_chart")
