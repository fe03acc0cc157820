"""Architecture's table of conv layers (st.data_editor): kept in the screen's setting `layers` ("64-11-0-1;…"),
a fresh table when the setting changed elsewhere (a link, "Back to the course's Net"), every edit checked by
cnnviz.architecture.validate_layers before use — a rewritten websocket message included."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnnviz import CnnvizError
from cnnviz.architecture import validate_layers
from ui.frame import stop
from ui.screens import format_layers, parse_layers
from ui.widgets import show_error

S = st.session_state
COLUMNS = ("out_channels", "kernel", "padding", "pool")


def layers_editor(t, state) -> tuple[tuple[int, int, int, int], ...]:
    """The conv layers' table, kept in the setting `layers` ('64-11-0-1;…'); edits are checked before use."""
    base_key = "arch_editor_base"
    if S.get(base_key, (None, 0))[0] != state.layers and state.layers != S.get("arch_editor_out"):
        S[base_key] = (state.layers, S.get(base_key, (None, 0))[1] + 1)  # changed elsewhere: a fresh table
    elif f"arch_editor_{S[base_key][1]}" not in S:  # the table was not drawn last run (another screen)
        S[base_key] = (state.layers, S[base_key][1])
    text, version = S[base_key]
    rows = pd.DataFrame([dict(zip(COLUMNS, (f, k, p, bool(pool)))) for f, k, p, pool in parse_layers(text)])
    edited = st.data_editor(rows, num_rows="dynamic", key=f"arch_editor_{version}", column_config={
        "out_channels": st.column_config.NumberColumn(t("arch.col_filters"), min_value=1, max_value=1024, step=1,
                                                      required=True),
        "kernel": st.column_config.NumberColumn(t("arch.col_kernel"), min_value=1, max_value=15, step=1,
                                                required=True),
        "padding": st.column_config.NumberColumn(t("arch.col_padding"), min_value=0, max_value=8, step=1,
                                                 required=True),
        "pool": st.column_config.CheckboxColumn(t("arch.col_pool"), default=False)})
    complete = edited.dropna(subset=list(COLUMNS[:3]))  # a row being added has empty cells until filled in
    if complete.empty:
        st.error(t("arch.layers_empty"), icon=":material/error:")
        stop()
    try:  # the library's check first (types, ranges, named row), then the setting's own
        checked = validate_layers(complete[list(COLUMNS)].to_dict("records"))
        out = format_layers((c.out_channels, c.kernel, c.padding, c.pool) for c in checked.convs)
    except (CnnvizError, ValueError, KeyError, TypeError) as exc:  # a rewritten websocket message, not the editor
        st.error(t("arch.layers_invalid"), icon=":material/error:")
        if isinstance(exc, CnnvizError):
            show_error(exc)
        out = state.layers  # the last valid table stays in use, and the editor shows it again next run
        S[base_key] = (out, version + 1)
    S["arch_editor_out"] = state.layers = out
    return parse_layers(out)
