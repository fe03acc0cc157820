"""Screen: what every conv layer of a trained network makes of one image.

Sections: the network and the image, the prediction, every stage's maps, one map large with its kernel (click a
cell: ui/explain_panel.py explains that unit), what excites the channel (the top-9 test images and the image it
wants: ui/learned_view.py), Grad-CAM and its scrambled-weights test, the first layer's filters.
"""

import math

import streamlit as st

import ui
from cnnviz.explore import conv_groups, kernels_of, producing_conv
from cnnviz.figures import image_figure, input_figure, mosaic_figure, probability_figure
from ui import explain_panel, learned_view, shared_cache
from ui.image_picker import keep_choice

t, state = ui.page("feature_maps")
lang = t.lang


def network_caption(meta: dict) -> str:
    acc = meta["test_accuracy"]
    if acc is None or math.isnan(acc):  # not measured (a user's model: None)
        return t("fm.network_no_accuracy", dataset=ui.dataset_name(meta["dataset"]),
                 arch=ui.arch_name(meta.get("arch", "")))
    return t("fm.network", dataset=ui.dataset_name(meta["dataset"]), acc=acc, arch=ui.arch_name(meta.get("arch", "")))


def show_prediction(result, classes: list[str], label: int | None) -> None:
    name = ui.plain(classes[result.pred])
    verdict = ("" if label is None else " " + t("fm.correct") if label == result.pred
               else " " + t("fm.wrong", name=ui.plain(classes[label])))
    st.markdown(t("fm.prediction", name=name, p=float(result.probs[result.pred])) + verdict)
    ui.chart(shared_cache.figure(probability_figure, result.probs, classes, label, lang=lang), key="fm_probs")


STAGES_TAB = "fm_stages_tab"  # the open tab of the mosaics (a widget: its conv block's name)


@st.fragment
def show_stages(model, meta: dict, image, result, groups: dict, signed: bool) -> None:
    """Every stage's mosaic, a tab per conv block. Only the open tab's figures are built and sent: Streamlit
    runs every tab's code unless the tabs keep their state, and a tab switch then reruns this part alone. The
    figures are built once per server for this image (ui/shared_cache.py)."""
    cols = 6 if ui.charts.view().narrow else 16  # a phone: maps of about 60 px, not 17
    for tab, group in zip(st.tabs(list(groups), key=STAGES_TAB, on_change="rerun"), groups.values()):
        if not tab.open:
            continue
        titles = {s: t("fm.mosaic_title", stage=s, c=result.maps[s].shape[0], h=result.maps[s].shape[1],
                       w=result.maps[s].shape[2]) for s in group}
        figures = shared_cache.stage_mosaics(model, meta, image, group, signed, lang, titles, cols)
        with tab:
            for stage in group:
                ui.chart(figures[stage], key=f"fm_mosaic_{stage}")


@st.fragment
def one_map_and_unit(model, meta: dict, image, result, groups: dict, signed: bool, classes) -> None:
    """The part that follows one widget — the large map's stage/channel, a clicked cell, the explained unit,
    what excites the channel: a change there reruns only this, not the mosaics above.

    In the presenter view the map and the unit's explanation share the screen (map left, explanation right),
    the map's settings folded under them: both in view at 1280×720."""
    if ui.presenting():
        big, side = st.columns([2, 3])
        with ui.secondary(t):
            stage, channel, maps = choose_map(result)
        show_one_map(model, groups, signed, stage, channel, maps, big, None if unit_chosen() else side)
        explain_panel.panel(t, state, model, image, result, head=side)
    else:
        st.header(t("fm.one_title"))
        stage, channel, maps = choose_map(result)
        big, kern = st.columns([3, 2])
        show_one_map(model, groups, signed, stage, channel, maps, big, kern)
        explain_panel.panel(t, state, model, image, result)
    learned_view.what_excites(t, state, model, state.network, meta, classes, stage, channel)
    state.sync()  # a fragment rerun does not reach the frame's own sync


def unit_chosen() -> bool:
    return bool(state.ex_stage) and state.ex_ch >= 0


def choose_map(result) -> tuple[str, int, object]:
    """The stage and channel of the large map (kept among this network's stages) -> (stage, channel, maps)."""
    spatial = result.spatial_stages()
    keep_choice(t, state, "stage", spatial, spatial[min(2, len(spatial) - 1)])
    a, b = st.columns(2)
    stage = a.selectbox(t("fm.stage"), spatial, key=state.key("stage"))
    maps = result.maps[stage]
    state.channel = min(state.channel, maps.shape[0] - 1)
    channel = b.number_input(t("fm.channel", last=maps.shape[0] - 1), 0, maps.shape[0] - 1, key=state.key("channel"))
    return stage, channel, maps


def show_one_map(model, groups: dict, signed: bool, stage: str, channel: int, maps, big, kern) -> None:
    """The chosen map large in `big` (a click, or its row and column fields, explains a cell), the kernel that
    produced it in `kern` (None: not shown)."""
    conv = producing_conv(model, stage)
    explain_panel.big_map(t, state, maps, stage, channel, signed, big)  # clickable: a cell opens the panel
    if kern is None:
        return
    kernel = kernels_of(model, conv, channel)  # (C_in, k, k)
    with kern:
        title = t("fm.kernel_title", conv=conv, channel=channel, c=kernel.shape[0], h=kernel.shape[1],
                  w=kernel.shape[2])
        if kernel.shape[0] <= 3 and conv == next(iter(groups)):
            one = kernel[0] if kernel.shape[0] == 1 else kernel.mean(0)
            ui.chart(shared_cache.figure(image_figure, one, title, colorscale="RdBu_r", zmid=0, height=300,
                                         lang=lang), key="fm_kernel")
        else:
            ui.chart(shared_cache.figure(mosaic_figure, kernel, t("fm.kernel_slices", title=title),
                                         symmetric=True, cols=min(8, kernel.shape[0]), lang=lang),
                     key="fm_kernel")
        if stage != conv:
            after = groups[conv][1:groups[conv].index(stage) + 1]
            st.caption(t("fm.after_conv", stage=stage, conv=conv, ops=", ".join(after)))


def show_first_filters(model, groups: dict) -> None:
    first = next(iter(groups))
    st.header(t("fm.filters_title", conv=first))
    w1 = model.stages[first].weight.detach().numpy()  # (F, C, k, k)
    ui.chart(shared_cache.figure(mosaic_figure, w1[:, 0] if w1.shape[1] == 1 else w1.mean(1),
                                 t("fm.filters", conv=first, n=w1.shape[0], h=w1.shape[2], w=w1.shape[3]),
                                 symmetric=True, cols=8 if ui.charts.view().narrow else 16, height=200, lang=lang),
             key="fm_filters")


ui.presenter.heading(t, "fm.title", "feature_maps")
ui.intro(t("fm.intro"))
top = ui.presenter.ahead()  # the presenter view: the large map and its explanation first, the rest under them

loaded = ui.pick_network(t, state.key("network"))
if loaded is None:
    ui.stop()
model, meta = loaded
st.sidebar.caption(network_caption(meta))
classes = ui.class_names(meta["classes"])

with ui.secondary(t):  # in the presenter view the image comes from the link: the picker is folded away
    picked = ui.pick_image(t, state, meta)
if picked is None:
    ui.stop()
image, label, caption = picked
result = shared_cache.image_maps(model, meta, image)

left, right = st.columns([1, 2])
with left:
    ui.chart(shared_cache.figure(input_figure, image, t("fm.input"), height=300, lang=lang), key="fm_input")
    st.caption(caption)
with right:
    show_prediction(result, classes, label)

groups = conv_groups(model)
if not groups:
    st.info(t("fm.no_conv"))
    ui.stop()

st.header(t("fm.stages_title"))
signed = st.toggle(t("fm.signed"), key=state.key("signed"), help=t("fm.signed_help"))
show_stages(model, meta, image, result, groups, signed)
with top or st.container():
    one_map_and_unit(model, meta, image, result, groups, signed, classes)
explain_panel.gradcam_section(t, state, model, image, classes, result.pred)
learned_view.scramble(t, state, model, meta, image, classes, result.pred)
show_first_filters(model, groups)
