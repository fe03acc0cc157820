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
        return t("fm.network_no_accuracy", dataset=meta["dataset"], arch=meta.get("arch", ""))
    return t("fm.network", dataset=meta["dataset"], acc=acc, arch=meta.get("arch", ""))


def show_prediction(result, classes: list[str], label: int | None) -> None:
    name = ui.plain(classes[result.pred])
    verdict = ("" if label is None else " " + t("fm.correct") if label == result.pred
               else " " + t("fm.wrong", name=ui.plain(classes[label])))
    st.markdown(t("fm.prediction", name=name, p=float(result.probs[result.pred])) + verdict)
    st.plotly_chart(shared_cache.figure(probability_figure, result.probs, classes, label, lang=lang), key="fm_probs")


def show_stages(model, meta: dict, image, result, groups: dict, signed: bool) -> None:
    """Every stage's mosaic: the figures are built once per server for this image (ui/shared_cache.py)."""
    stages = [s for g in groups.values() for s in g]
    titles = {s: t("fm.mosaic_title", stage=s, c=result.maps[s].shape[0], h=result.maps[s].shape[1],
                   w=result.maps[s].shape[2]) for s in stages}
    figures = shared_cache.stage_mosaics(model, meta, image, stages, signed, lang, titles)
    for tab, group in zip(st.tabs(list(groups)), groups.values()):
        with tab:
            for stage in group:
                st.plotly_chart(figures[stage], key=f"fm_mosaic_{stage}")


@st.fragment
def one_map_and_unit(model, meta: dict, image, result, groups: dict, signed: bool, classes) -> None:
    """The part that follows one widget — the large map's stage/channel, a clicked cell, the explained unit,
    what excites the channel: a change there reruns only this, not the mosaics above."""
    stage, channel = show_one_map(model, result, groups, signed)
    explain_panel.panel(t, state, model, image, result)
    learned_view.what_excites(t, state, model, state.network, meta, classes, stage, channel)
    state.sync()  # a fragment rerun does not reach the frame's own sync


def show_one_map(model, result, groups: dict, signed: bool) -> tuple[str, int]:
    """The chosen stage's chosen channel, large, beside the kernel that produced it -> (stage, channel)."""
    st.subheader(t("fm.one_title"))
    spatial = result.spatial_stages()
    keep_choice(t, state, "stage", spatial, spatial[min(2, len(spatial) - 1)])
    a, b = st.columns(2)
    stage = a.selectbox(t("fm.stage"), spatial, key=state.key("stage"))
    maps = result.maps[stage]
    state.channel = min(state.channel, maps.shape[0] - 1)
    channel = b.number_input(t("fm.channel", last=maps.shape[0] - 1), 0, maps.shape[0] - 1, key=state.key("channel"))
    conv = producing_conv(model, stage)
    big, kern = st.columns([3, 2])
    explain_panel.big_map(t, state, maps, stage, channel, signed, big)  # clickable: a cell opens the panel
    kernel = kernels_of(model, conv, channel)  # (C_in, k, k)
    with kern:
        title = t("fm.kernel_title", conv=conv, channel=channel, c=kernel.shape[0], h=kernel.shape[1],
                  w=kernel.shape[2])
        if kernel.shape[0] <= 3 and conv == next(iter(groups)):
            one = kernel[0] if kernel.shape[0] == 1 else kernel.mean(0)
            st.plotly_chart(shared_cache.figure(image_figure, one, title, colorscale="RdBu_r", zmid=0, height=300,
                                                lang=lang), key="fm_kernel")
        else:
            st.plotly_chart(shared_cache.figure(mosaic_figure, kernel, t("fm.kernel_slices", title=title),
                                                symmetric=True, cols=min(8, kernel.shape[0]), lang=lang),
                            key="fm_kernel")
        if stage != conv:
            after = groups[conv][1:groups[conv].index(stage) + 1]
            st.caption(t("fm.after_conv", stage=stage, conv=conv, ops=", ".join(after)))
    return stage, channel


def show_first_filters(model, groups: dict) -> None:
    first = next(iter(groups))
    st.subheader(t("fm.filters_title", conv=first))
    w1 = model.stages[first].weight.detach().numpy()  # (F, C, k, k)
    st.plotly_chart(shared_cache.figure(mosaic_figure, w1[:, 0] if w1.shape[1] == 1 else w1.mean(1),
                                        t("fm.filters", conv=first, n=w1.shape[0], h=w1.shape[2], w=w1.shape[3]),
                                        symmetric=True, cols=16, height=200, lang=lang), key="fm_filters")


st.title(t("fm.title"))
st.markdown(t("fm.intro"))

loaded = ui.pick_network(t, state.key("network"))
if loaded is None:
    ui.stop()
model, meta = loaded
st.sidebar.caption(network_caption(meta))
classes = ui.class_names(meta["classes"])

picked = ui.pick_image(t, state, meta)
if picked is None:
    ui.stop()
image, label, caption = picked
result = shared_cache.image_maps(model, meta, image)

left, right = st.columns([1, 2])
with left:
    st.plotly_chart(shared_cache.figure(input_figure, image, t("fm.input"), height=300, lang=lang), key="fm_input")
    st.caption(caption)
with right:
    show_prediction(result, classes, label)

groups = conv_groups(model)
if not groups:
    st.info(t("fm.no_conv"))
    ui.stop()

st.subheader(t("fm.stages_title"))
signed = st.toggle(t("fm.signed"), key=state.key("signed"), help=t("fm.signed_help"))
show_stages(model, meta, image, result, groups, signed)
one_map_and_unit(model, meta, image, result, groups, signed, classes)
explain_panel.gradcam_section(t, state, model, image, classes, result.pred)
learned_view.scramble(t, state, model, meta, image, classes, result.pred)
show_first_filters(model, groups)
