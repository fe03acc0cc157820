"""Translation screen: the three shipped networks side by side — the standard one, anti-aliased pooling
(Zhang 2019) and training on shifted images — on the same image and shift, then on the whole test set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnnviz.figures import mosaic_figure
from cnnviz.figures_shift import consistency_figure, network_label, remedy_curves_figure, tradeoff_figure
from cnnviz.i18n import format_number
from cnnviz.shift import (
    equivariance_gap,
    layer_gaps,
    remedy_paths,
    shift_image,
    stored_table,
)
from ui.shared_cache import image_maps, shift_probabilities
from ui.widgets import class_names, network


def _networks() -> dict:
    """id -> (model, meta) of the shipped networks that are on disk (shared, cached loaders)."""
    return {name: network(str(path), path.stat().st_mtime) for name, path in remedy_paths().items()}


@st.cache_data(show_spinner=False, max_entries=4)
def _table(mtimes: tuple) -> list:
    """The test-set table stored in the checkpoints (read once per server; `mtimes` invalidates it)."""
    return stored_table()


def show_remedies(t, image: np.ndarray, dx: int, dy: int, circular: bool, k: int) -> None:
    """The comparison: predictions, the deepest maps' shift error, the gap of every layer, the curves along
    x and y, then consistency and accuracy on the test set."""
    lang = t.lang
    nets = _networks()
    if len(nets) < 2:
        st.info(t("remedies.ui_missing"))
        return
    shifted = shift_image(image, dx, dy, circular)
    cols = st.columns(len(nets))
    gaps, curves = {}, {}
    for col, (name, (model, meta)) in zip(cols, nets.items()):
        classes = class_names(meta["classes"])
        before, after = image_maps(model, meta, image), image_maps(model, meta, shifted)
        with col:
            st.markdown(f"**{network_label(name, lang)}**")
            st.caption(t("remedies.ui_prediction", before=classes[before.pred], after=classes[after.pred],
                         p=float(after.probs[before.pred])))
            last = before.spatial_stages()[-1]  # the deepest maps: where the classifier looks
            gaps[name] = layer_gaps(model, image, dx, dy, circular)
            scale, whole, inner = gaps[name][last]
            diff, _ = equivariance_gap(after.maps[last], before.maps[last], dx, dy, scale, circular)
            st.plotly_chart(mosaic_figure(diff[:8], t("remedies.ui_diff", stage=last, gap=whole), symmetric=True,
                                          cols=4, height=220, lang=lang), key=f"remedy_diff_{name}")
        probs = shift_probabilities(model, meta, image, k, circular)  # (2k+1 [dy], 2k+1 [dx], classes)
        curves[name] = (probs[k, :, before.pred], probs[:, k, before.pred])
    st.plotly_chart(remedy_curves_figure(curves, k, lang=lang), key="remedy_curves")

    rows = {name: {stage: format_number(lang, g[1], ".1%") for stage, g in by_stage.items()}
            for name, by_stage in gaps.items()}
    table = pd.DataFrame(rows).rename(columns=lambda n: network_label(n, lang))
    st.markdown(t("remedies.ui_gaps"))
    st.dataframe(table.fillna("—"), key="remedy_gaps")

    st.markdown(t("remedies.ui_test_set"))
    measured = _table(tuple(sorted(p.stat().st_mtime for p in remedy_paths().values())))
    if not measured:
        st.info(t("remedies.ui_not_measured"))
        return
    a, b = st.columns([3, 2])
    a.plotly_chart(consistency_figure(measured, lang=lang), key="remedy_consistency")
    b.plotly_chart(tradeoff_figure(measured, 3, lang=lang), key="remedy_tradeoff")

