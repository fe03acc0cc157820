"""Screen: train a network live with SGD + momentum, watch the loss, then the test phase."""

import streamlit as st

import ui
from cnnviz import CnnvizError, ShapeError
from cnnviz.loop import LOSSES
from cnnviz.training import CUSTOM_MODEL, TrainConfig, TrainingJob
from ui.runs_manager import compare_runs, saved_runs
from ui.test_phase import show_results
from ui.timeline_view import scrub_job
from ui.training_charts import draw_epochs, draw_job, draw_live
from ui.training_owner import keep_in_cookie, my_owner_id
from ui.training_preview import device_line, preview
from ui.training_slots import limits, owner_alive_check, training_slots
from ui.widgets import download

t, state = ui.page("training")
S = st.session_state
JOB = state.key("job")  # this session's TrainingJob
MAX_JOBS, MAX_SECONDS = limits()
EVAL_LIMIT = 2000  # test images behind the accuracy shown after each epoch
DATASETS = {"fashion-mnist": "train.ds_fmnist", "cifar10": "train.ds_cifar10"}  # id -> message id of its label
MODELS = {"compact": "train.model_compact", "compact_blur": "train.model_compact_blur",
          "seednet": "train.model_seednet", "mlp": "train.model_mlp", "custom": "train.model_custom"}

job: TrainingJob | None = S.get(JOB)
if job is not None:  # the settings shown are the job's, whatever was chosen (or linked) since
    state.update(job.config.to_settings())
elif state.model not in state.choices("model"):
    state.reset("model")
alive = job is not None and job.alive  # training, or evaluating and saving after a Stop
running = alive and job.progress.status == "running" and not job.stop_requested  # Stop: answered at once
locked = job is not None  # settings apply to a new job: Reset first


def course_settings():
    state.lr, state.momentum = 0.001, 0.9


ui.presenter.heading(t, "train.title", "training")
ui.intro(t("train.intro"))
top = ui.presenter.ahead()  # the presenter view: the estimate and Start first, the settings folded under them
if locked:
    st.caption(t("train.locked"))

with ui.secondary(t):  # folded in the presenter view: the lecture link set them
    c1, c2, c3 = st.columns(3)
    c1.selectbox(t("train.dataset"), state.choices("dataset"), format_func=lambda v: t(DATASETS[v]), key=state.key("dataset"),
                 disabled=locked)
    c2.selectbox(t("train.model"), state.choices("model"), format_func=lambda v: t(MODELS[v]), key=state.key("model"),
                 disabled=locked)
    c3.selectbox(t("train.loss"), state.choices("loss"), format_func=lambda v: t(LOSSES[v]), key=state.key("loss"),
                 disabled=locked)
    c1, c2, c3, c4 = st.columns(4)
    c1.number_input(t("train.lr"), min_value=1e-6, max_value=1e3, format="%.4g", key=state.key("lr"), disabled=locked)
    c2.number_input(t("train.momentum"), 0.0, 0.999, format="%.3f", key=state.key("momentum"), disabled=locked)
    c3.button(t("train.course_preset"), on_click=course_settings, disabled=locked, width="stretch",
              help=t("train.course_preset_help"), key="train_preset_button")
    c4.number_input(t("train.batch"), 1, 1024, key=state.key("batch"), disabled=locked)
    c1, c2, c3 = st.columns(3)
    c1.number_input(t("train.epochs"), 1, 50, key=state.key("epochs"), disabled=locked)
    c2.number_input(t("train.subset"), 0, 60000, step=1000, key=state.key("subset"), disabled=locked,
                    help=t("train.subset_help"))
    c3.number_input(t("train.seed"), 0, 10**6, key=state.key("seed"), disabled=locked)
    c1, c2 = st.columns(2)
    c1.number_input(t("train.val"), 0, 50, key=state.key("val"), disabled=locked, help=t("train.val_help"))
    c2.toggle(t("train.live"), key=state.key("live"), disabled=locked, help=t("train.live_help"))
    ui.decimal_point_note(t)  # Streamlit writes "0.001" in its number fields, whatever the language
    if state.model == CUSTOM_MODEL:
        st.caption(t("train.custom", layers=state.layers, fc=state.fc, bn=t("train.yes" if state.bn else "train.no"),
                     dropout=state.dropout))
        st.page_link("pages/architecture.py", label=t("train.custom_edit"), icon=":material/account_tree:")
device = device_line(t)

try:
    train = ui.dataset(state.dataset, "train")
    test = ui.dataset(state.dataset, "test")
except CnnvizError as exc:
    ui.show_error(exc)
    if st.button(t("train.download"), icon=":material/download:", key="train_download", help=t("train.download_help")):
        try:
            with st.spinner(t("train.downloading")):
                download(state.dataset, "train"), download(state.dataset, "test")
        except CnnvizError as failure:
            ui.show_error(failure)
        else:
            st.rerun()
    ui.stop()
config = TrainConfig.from_settings(state.settings(), max_seconds=MAX_SECONDS, eval_limit=EVAL_LIMIT)
top = top or st.container()
if not locked:
    try:  # parameters and time per epoch; the course's Net does not fit 28×28 images
        with top:
            if ui.presenting():  # the settings are folded: what will run, in one line
                st.markdown(t("train.summary", lr=float(state.lr), momentum=float(state.momentum),
                              batch=int(state.batch), epochs=int(state.epochs), model=t(MODELS[state.model])))
            preview(t, config, train, device)
    except ShapeError:
        st.error(t("train.model_too_big", model=t(MODELS[state.model]), shape=" × ".join(map(str, train.input_shape))))
        ui.stop()

b1, b2, b3, b4 = top.columns(4)
if b1.button(t("train.start"), icon=":material/play_arrow:", type="primary", disabled=locked, key="train_start"):
    slots = training_slots(MAX_JOBS)
    if not slots.acquire(blocking=False):
        st.error(t("train.busy", n=MAX_JOBS))
    else:
        try:
            S[JOB] = TrainingJob(config, train, test, owner_alive=owner_alive_check(), device=device,
                                 owner=my_owner_id()).autosave().start(slots)
        except CnnvizError as exc:
            slots.release()
            ui.show_error(exc)
        else:
            st.rerun()
if b2.button(t("train.stop"), icon=":material/stop:", disabled=not running, key="train_stop"):
    job.stop()  # answers at once: the job evaluates the test set and saves its run in its thread (a progress bar)
    st.rerun()
if b3.button(t("train.resume"), icon=":material/resume:", disabled=alive or job is None or job.progress.status != "stopped",
             key="train_resume"):
    slots = training_slots(MAX_JOBS)
    if slots.acquire(blocking=False):
        job.resume(slots)
        st.rerun()
    st.error(t("train.busy", n=MAX_JOBS))
if b4.button(t("train.reset"), icon=":material/restart_alt:", disabled=job is None, key="train_reset"):
    S.pop(JOB).close()  # stops it (its run is saved) and frees its memory
    st.rerun()


if job is None:
    st.info(t("train.choose"))
elif alive:
    @st.fragment(run_every=1.0)
    def live():
        draw_job(t, job)
        draw_live(t, job, test)
        draw_epochs(t, job.snapshot())
        if not job.alive:  # the job ended (and saved its run): redraw the whole page for the test phase
            st.rerun()
    live()
else:
    draw_job(t, job)
    draw_epochs(t, job.snapshot())
    show_results(t, job, test)
    scrub_job(t, state, job, saved_runs())
compare_runs(t, job)
keep_in_cookie()  # this browser keeps its runs after a reload (ui/training_owner.py)
