"""Translation screen: the three shipped networks side by side — the standard one, anti-aliased pooling
(Zhang 2019) and training on shifted images — on the same image and shift, then on the whole test set."""

from __future__ import annotations

import math

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
from ui.charts import chart
from ui.shared_cache import image_maps, shift_probabilities
from ui.widgets import class_names, network


def _networks() -> dict:
    """id -> (model, meta) of the shipped networks that are on disk (shared, cached loaders)."""
    return {name: network(str(path), path.stat().st_mtime) for name, path in remedy_paths().items()}


@st.cache_data(show_spinner=False, max_entries=4)
def _table(mtimes: tuple) -> list:
    """The test-set table stored in the checkpoints (read once per server; `mtimes` invalidates it)."""
    return stored_table()


def gap_table(t, lang: str, gaps: dict) -> pd.DataFrame:
    """stage -> its equivariance gap near the border and away from it (cnnviz.shift.layer_gaps gives the gap
    over the whole map and away from the border; the border's share is the rest: the two parts cover disjoint
    cells, so whole² = near² + away²). A convolution's gap is all near the border — the zero fill."""
    rows = []
    for stage, (_, whole, away) in gaps.items():
        near = math.sqrt(max(whole ** 2 - away ** 2, 0.0))
        rows.append({t("remedies.col_layer"): stage, t("remedies.col_near"): format_number(lang, near, ".1%"),
                     t("remedies.col_away"): format_number(lang, away, ".1%")})
    return pd.DataFrame(rows)


def show_remedies(t, image: np.ndarray, dx: int, dy: int, circular: bool, k: int) -> None:
    """The comparison: each network's outcome (✓ same class, ✗ changed), the deepest maps' shift error, the
    gap of every layer near the border and away from it, the curves along x and y, then consistency and
    accuracy on the test set."""
    lang = t.lang
    nets = _networks()
    if len(nets) < 2:
        st.info(t("remedies.ui_missing"))
        return
    shifted = shift_image(image, dx, dy, circular)
    cols = st.columns(len(nets))
    curves = {}
    for col, (name, (model, meta)) in zip(cols, nets.items()):
        classes = class_names(meta["classes"])
        before, after = image_maps(model, meta, image), image_maps(model, meta, shifted)
        with col:
            st.markdown(f"**{network_label(name, lang)}**")
            kept = before.pred == after.pred  # said in words and a sign, not by a colour alone
            st.markdown(t("remedies.kept" if kept else "remedies.changed"))
            st.caption(t("remedies.ui_prediction", before=classes[before.pred], after=classes[after.pred],
                         p=float(after.probs[before.pred])))
            last = before.spatial_stages()[-1]  # the deepest maps: where the classifier looks
            gaps = layer_gaps(model, image, dx, dy, circular)
            scale = gaps[last][0]
            diff, _ = equivariance_gap(after.maps[last], before.maps[last], dx, dy, scale, circular)
            chart(mosaic_figure(diff[:8], t("remedies.ui_diff", stage=last), symmetric=True, cols=4, height=240,
                                lang=lang), key=f"remedy_diff_{name}")
            right = st.column_config.TextColumn(alignment="right")
            st.dataframe(gap_table(t, lang, gaps), hide_index=True, key=f"remedy_gaps_{name}",
                         column_config={t("remedies.col_near"): right, t("remedies.col_away"): right})
        probs = shift_probabilities(model, meta, image, k, circular)  # (2k+1 [dy], 2k+1 [dx], classes)
        curves[name] = (probs[k, :, before.pred], probs[:, k, before.pred])
    st.caption(t("remedies.ui_gaps"))
    chart(remedy_curves_figure(curves, k, lang=lang), key="remedy_curves")

    st.markdown(t("remedies.ui_test_set"))
    measured = _table(tuple(sorted(p.stat().st_mtime for p in remedy_paths().values())))
    if not measured:
        st.info(t("remedies.ui_not_measured"))
        return
    a, b = st.columns([3, 2])
    chart(consistency_figure(measured, lang=lang), key="remedy_consistency", container=a)
    chart(tradeoff_figure(measured, 3, lang=lang), key="remedy_tradeoff", container=b)
