"""Screen: how the network learns — the optimisation slides on the real network: one image's and a batch's cost,
the batch gradient as an unbiased estimate, the loss around the trained weights, lr and momentum on toy costs.
Computations in cnnviz.gradients / landscape / descent; shared caches and formulas in ui/learning_view.py."""

import streamlit as st

import ui
from cnnviz import figures_learning as fl
from cnnviz.descent import optimizer_code, stability_limit
from cnnviz.figures import input_figure
from cnnviz.gradients import image_cost, logits_of, parameter_names
from cnnviz.i18n import format_number
from ui import learning_view as view
from ui import screens, shared_cache

t, state = ui.page("learning")
lang, big = t.lang, ui.presenting()


def chart(build, *args, key: str, **kwargs) -> None:
    ui.chart(shared_cache.figure(build, *args, lang=lang, big=big, **kwargs), key=key)


def cost_part(model, meta, classes) -> None:
    with ui.secondary(t):  # at a projector the figures come first, the image's choice folds away
        picked = ui.pick_image(t, state, meta)
    st.button(t("learn.mistake"), on_click=view.next_mistake, args=(state, model, meta), icon=":material/error:",
              key="learn_mistake", help=t("learn.mistake_help"))
    if picked is None:
        ui.stop()
    image, label, caption = picked
    if label is None:  # an upload or a drawing: its true class is the reader's to say
        label = view.true_class(t, state, classes)
    cost = image_cost(logits_of(model, image[None])[0], label, state.compared)
    left, right = st.columns([1, 3])
    ui.chart(shared_cache.figure(input_figure, image, t("learn.input"), height=260, lang=lang),
                      key="learn_fig_in", container=left)
    left.caption(caption)
    with right:
        chart(fl.cost_figure, cost.logits, cost.probs, classes, label, key="learn_fig_cost")
    st.latex(view.ce_formula(lang, cost))
    ui.intro(t("learn.ce_text"))
    st.radio(t("learn.compared"), list(view.COMPARED), format_func=lambda v: t(view.COMPARED[v]), horizontal=True,
             key=state.key("compared"), help=t("learn.compared_help"))
    cols = st.columns(3)
    for col, name in zip(cols, ("cross-entropy", "mse", "l1")):
        col.metric(t(view.COST_IDS[name]), view.readable(lang, cost.costs[name], 4))
    chart(fl.logit_gradient_figure, cost.grads, classes, label, key="learn_fig_grads")
    st.markdown(view.gradient_verdict(t, cost))
    view.batch_section(t, state, model, meta, chart)


def batches_part(model, meta) -> None:
    ui.intro(t("learn.batches_intro"))
    if not big:  # at a projector the formula follows the first figure, which must fit the screen
        st.latex(view.UNBIASED)
    train = view.training_images(meta)
    if train is None:
        st.info(t("learn.needs_train"))
        return
    names = parameter_names(model, view.MAX_PARAM_SIZE)
    if not names:
        st.info(t("learn.no_param"))
        return
    view.keep_param(t, state, names)
    c1, c2, c3, c4 = ui.secondary(t).columns([3, 2, 2, 2])
    param = c1.selectbox(t("learn.param"), names, key=state.key("param"), help=t("learn.param_help"))
    c2.selectbox(t("learn.subset"), screens.LEARN_SUBSETS, key=state.key("subset"),
                 format_func=lambda n: format_number(lang, n))
    c3.selectbox(t("learn.draws"), screens.LEARN_DRAWS, key=state.key("draws"))
    c4.number_input(t("learn.seed"), 0, 9999, key=state.key("seed"))
    with st.spinner(t("learn.computing_study", n=state.subset)):
        study, seconds = view.gradient_study(model, meta, train, param, state.subset, state.draws, state.seed)
    sizes = study.batch_sizes
    chart(fl.convergence_figure, sizes, [r.running_rel_error for r in study.rows], key="learn_fig_conv")
    if big:
        st.latex(view.UNBIASED)
    st.markdown(view.study_summary(t, study, seconds))
    left, right = st.columns(2)
    with left:
        chart(fl.spread_figure, sizes, [r.coords for r in study.rows], study.full_norm, key="learn_fig_spread")
    with right:
        chart(fl.variance_figure, sizes, [r.variance for r in study.rows], [r.expected_variance for r in study.rows],
              study.slope, key="learn_fig_var")
    st.dataframe(view.study_table(t, study), hide_index=True)
    ui.intro(t("learn.batches_outro"))


def landscape_part(model, meta) -> None:
    ui.intro(t("learn.landscape_intro"))
    train, test = view.training_images(meta), ui.images_for(meta["dataset"])
    if train is None:
        st.info(t("learn.needs_train"))
        return
    c1, c2, c3 = ui.secondary(t).columns(3)
    span = c1.select_slider(t("learn.span"), screens.LEARN_SPANS, key=state.key("span"), help=t("learn.span_help"),
                            format_func=lambda v: format_number(lang, v, ".2f"))
    res = c2.select_slider(t("learn.res"), screens.LEARN_RESOLUTIONS, key=state.key("res"), help=t("learn.res_help"))
    seed = c3.number_input(t("learn.dir_seed"), 0, 9999, key=state.key("dir_seed"))
    with st.spinner(t("learn.computing_landscape")):
        land = view.loss_landscape(model, meta, train, test, span, res, seed)
    left, right = st.columns(2)
    with left:
        chart(fl.line_figure, land["alphas"], land["train_loss"], land["test_loss"], land["test_accuracy"],
              key="learn_fig_line")
    with right:
        chart(fl.plane_figure, land["grid"], land["grid"], land["plane"], key="learn_fig_plane")
    st.caption(view.landscape_caption(t, land, res))
    view.path_section(t, model, meta, train, res, chart)


def momentum_part() -> None:
    ui.intro(t("learn.momentum_intro"))
    c1, c2, c3, c4 = st.columns([2, 3, 3, 2])
    toy = c1.selectbox(t("learn.toy"), screens.LEARN_TOYS, format_func=lambda v: t(view.TOYS[v]),
                       key=state.key("toy"))
    lr = c2.select_slider(t("learn.lr"), screens.LEARN_LRS, key=state.key("lr"),
                          format_func=lambda v: format_number(lang, v, ".4g"))
    mu = c3.select_slider(t("learn.momentum"), screens.LEARN_MOMENTA, key=state.key("momentum"),
                          format_func=lambda v: format_number(lang, v, ".2f"))
    steps = c4.number_input(t("learn.steps"), 10, 3000, step=50, key=state.key("steps"))
    paths, plain = view.toy_paths(t, toy, lr, mu, steps)
    left, right = st.columns([3, 2])
    with left:
        chart(fl.toy_figure, toy, plain, key="learn_fig_toy")
    with right:
        chart(fl.toy_cost_figure, plain, key="learn_fig_toy_cost")
        st.markdown(view.path_verdicts(t, paths, plain))
    st.latex(view.MOMENTUM_RULE)
    st.markdown(t("learn.limit", gd=stability_limit(toy, 0.0), mu=mu, hb=stability_limit(toy, mu)))
    st.code(optimizer_code(lr, mu), language="python")
    st.page_link(screens.BY_ID["training"].file, label=t("learn.train_link"), icon=":material/trending_down:",
                 query_params=screens.query_for("training", lang, lr=lr, momentum=mu))


st.title(t("learn.title"))
ui.intro(t("learn.intro"))
part = st.segmented_control(t("learn.part"), screens.LEARN_PARTS, format_func=lambda p: t(view.PARTS[p]),
                            key=state.key("part"), required=True)
if part == "momentum":
    momentum_part()
else:
    loaded = ui.pick_network(t, state.key("network"))
    if loaded is None:
        ui.stop()
    model, meta = loaded
    if part == "cost":
        cost_part(model, meta, ui.class_names(meta["classes"]))
    elif part == "batches":
        batches_part(model, meta)
    else:
        landscape_part(model, meta)
