"""Screen: train a network live with SGD + momentum, watch the loss, then the test phase."""

import os

import streamlit as st

import ui
from cnnviz import CnnvizError, ShapeError
from cnnviz.data import DATASETS
from cnnviz.figures import loss_figure
from cnnviz.models import ARCHITECTURES, build_model
from cnnviz.training import LOSSES, TrainConfig, TrainingJob, moving_average

ui.require_app()

MAX_JOBS = int(os.environ.get("CNNVIZ_MAX_JOBS", 2))
MAX_SECONDS = float(os.environ.get("CNNVIZ_MAX_TRAIN_SECONDS", 600))  # a closed tab cannot train for ever
S = st.session_state
S.setdefault("tr_lr", 0.05)
S.setdefault("tr_momentum", 0.9)


def course_settings():
    S.tr_lr, S.tr_momentum = 0.001, 0.9


st.title("Training")
st.markdown("The course's loop: for each epoch, shuffle the training set into mini-batches; for each batch "
            "compute the loss, its gradient by back-propagation, and take one SGD step with momentum.")

job: TrainingJob | None = S.get("train_job")
running = job is not None and job.alive
locked = job is not None  # settings apply to a new job: Reset first

c1, c2, c3 = st.columns(3)
name = c1.selectbox("Dataset", list(DATASETS), key="tr_dataset", disabled=locked)
arch = c2.selectbox("Model", list(ARCHITECTURES), format_func=ARCHITECTURES.get, key="tr_arch", disabled=locked)
loss = c3.selectbox("Loss", list(LOSSES), format_func=LOSSES.get, key="tr_loss", disabled=locked)
c1, c2, c3, c4 = st.columns(4)
lr = c1.number_input("Learning rate γ", min_value=1e-6, max_value=1e3, format="%.4g", key="tr_lr", disabled=locked)
momentum = c2.number_input("Momentum", 0.0, 0.999, format="%.3f", key="tr_momentum", disabled=locked)
c3.button("Course preset", on_click=course_settings, disabled=locked, width="stretch",
          help="The slide's optimizer: optim.SGD(net.parameters(), lr=0.001, momentum=0.9)")
batch = c4.number_input("Batch size", 1, 1024, 64, key="tr_batch", disabled=locked)
c1, c2, c3 = st.columns(3)
epochs = c1.number_input("Epochs", 1, 50, 2, key="tr_epochs", disabled=locked)
subset = c2.number_input("Training images (0 = all)", 0, 60000, 10000, step=1000, key="tr_subset", disabled=locked,
                         help="A subset makes a quick demo: 10,000 images is about 10 s per epoch.")
seed = c3.number_input("Seed", 0, 10**6, 0, key="tr_seed", disabled=locked)

try:
    train = ui.dataset(name, "train")
    test = ui.dataset(name, "test")
    build_model(arch, train.input_shape)  # the course's Net does not fit 28×28 images
except (CnnvizError, ShapeError) as exc:
    ui.show_error(exc)
    st.stop()

b1, b2, b3, b4 = st.columns(4)
if b1.button("Start", icon=":material/play_arrow:", type="primary", disabled=locked):
    slots = ui.training_slots(MAX_JOBS)
    if not slots.acquire(blocking=False):
        st.error(f"This server already runs {MAX_JOBS} trainings (the limit); try again when one ends.")
    else:
        try:
            cfg = TrainConfig(name, arch, loss, float(lr), float(momentum), batch_size=int(batch), epochs=int(epochs),
                              subset=int(subset), seed=int(seed), max_seconds=MAX_SECONDS, eval_limit=2000)
            S.train_job = TrainingJob(cfg, train, test).start(slots)
            S.pop("train_result", None)
        except (ValueError, CnnvizError) as exc:
            slots.release()
            ui.show_error(exc)
        st.rerun()
if b2.button("Stop", icon=":material/stop:", disabled=not running):
    job.stop()
    job.wait(30)
    st.rerun()
if b3.button("Resume", icon=":material/resume:", disabled=running or job is None or job.status != "stopped"):
    slots = ui.training_slots(MAX_JOBS)
    if slots.acquire(blocking=False):
        job.resume(slots)
        S.pop("train_result", None)
        st.rerun()
    st.error(f"This server already runs {MAX_JOBS} trainings (the limit).")
if b4.button("Reset", icon=":material/restart_alt:", disabled=job is None):
    if job is not None:
        job.stop()
    S.pop("train_job", None)
    S.pop("train_result", None)
    st.rerun()


def draw(job: TrainingJob) -> None:
    snap = job.snapshot()
    marks = [e * snap.batches_per_epoch for e in range(1, snap.epoch + 1)]
    st.plotly_chart(loss_figure(snap.losses, moving_average(snap.losses), marks), key="train_loss")
    st.progress(snap.progress, text=f"epoch {min(snap.epoch + 1, job.config.epochs)}/{job.config.epochs} · "
                f"batch {snap.batch}/{snap.batches_per_epoch} · {snap.step}/{snap.total_steps} batches")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Last loss", f"{snap.losses[-1]:.4f}" if snap.losses else "—")
    m2.metric("Images / s", f"{snap.images_per_s:,.0f}")
    m3.metric("Test accuracy (2,000 images)", f"{snap.epoch_accuracy[-1][1]:.2%}" if snap.epoch_accuracy else "—",
              help="after each epoch: " + ", ".join(f"{e}: {a:.2%}" for e, a in snap.epoch_accuracy))
    m4.metric("Status", snap.status)
    if snap.status == "diverged":
        st.error(snap.message)
    elif snap.status == "failed":
        st.error(f"Training failed: {snap.message}")
    elif snap.message and snap.status != "running":
        st.info(snap.message)


if job is None:
    st.info("Choose the settings and press **Start**. The loss of every batch is drawn as it trains.")
    st.stop()
if running:
    @st.fragment(run_every=1.0)
    def live():
        draw(job)
        if not job.alive:  # the job ended: redraw the whole page for the test phase
            st.rerun()
    live()
    st.stop()
draw(job)
if job.step == 0:
    st.stop()

st.subheader("Test phase")
key = (id(job), job.step)
if S.get("train_result", (None,))[0] != key:
    with st.spinner("Evaluating on the test set…"):
        from cnnviz.evaluate import evaluate
        report = evaluate(job.model, test)
        path = ui.save_run(job, report.accuracy)
    S.train_result = (key, report, path)
_, report, path = S.train_result
ui.show_test_phase(report, test, path)
