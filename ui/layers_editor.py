"""Architecture's table of conv layers (st.data_editor): kept in the screen's setting `layers` ("64-11-0-1;…"),
a fresh table when the setting changed elsewhere (a link, "Back to the course's Net"), every edit checked before
use — a rewritten websocket message included.

The editor's state (edited_rows, added_rows, deleted_rows) comes from the browser: `apply_edits` reads it
strictly, before Streamlit applies it (Streamlit raises KeyError for an unknown column and IndexError for a
deleted row past the end, casts padding 1.5 to 1, and turns "abc", NaN or null into an empty cell, which
would drop the row). Any value that is not what the editor can send gives a message naming the layer, the
last valid layers stay, and the table is drawn afresh under a new key (Streamlit never reads the forged state).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from cnnviz import CnnvizError
from cnnviz.architecture import LayerError, validate_layers
from cnnviz.layers import format_layers, parse_layers
from ui.frame import stop
from ui.widgets import show_error

S = st.session_state
COLUMNS = ("out_channels", "kernel", "padding", "pool")
STATE_KEYS = {"edited_rows", "added_rows", "deleted_rows"}


def _position(value, n: int) -> int:
    """A row position of the table as the browser names it (an int, or its digits as JSON keys are), 0 <= i < n."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 6:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n:
        shown = value + 1 if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**9 else value
        raise LayerError("arch.edit_no_row", row=str(shown)[:12], n=n)
    return value


def _cells(changes, row: int) -> dict:
    """One row's cells from the browser: only the table's columns."""
    if not isinstance(changes, Mapping):
        raise LayerError("err.arch_bad_row", row=row)
    unknown = [str(c)[:20] for c in changes if c not in COLUMNS]
    if unknown:
        raise LayerError("arch.edit_column", row=row, column=unknown[0])
    return dict(changes)


def apply_edits(rows: list[dict], state) -> list[dict]:
    """The table `rows` ({column: value}) with the editor's `state` applied as Streamlit does (cell edits by
    position, then deletions, then added rows), every position and column checked; LayerError otherwise.

    Values are not converted: validate_layers then checks each one and names its layer ("Layer 2: the
    padding must be a whole number (got 1.5)."). An added row whose filters, kernel or padding is still
    empty (missing or null) is a row being typed in, left out until it is complete."""
    if state is None:
        return [dict(r) for r in rows]
    if not isinstance(state, Mapping) or not set(state) <= STATE_KEYS:
        raise LayerError("arch.edit_unreadable")
    parts = []
    for name, kind in (("edited_rows", Mapping), ("added_rows", list), ("deleted_rows", list)):
        value = state.get(name)
        if value is not None and not isinstance(value, kind):
            raise LayerError("arch.edit_unreadable")
        parts.append(value if value is not None else ({} if kind is Mapping else []))
    edited, added, deleted = parts
    n = len(rows)
    out = [dict(r) for r in rows]
    for position, changes in edited.items():
        i = _position(position, n)
        out[i].update(_cells(changes, i + 1))
    gone = {_position(d, n) for d in deleted}
    out = [r for i, r in enumerate(out) if i not in gone]
    for j, row in enumerate(added, start=len(out) + 1):
        cells = _cells(row, j)
        if all(cells.get(c) is not None for c in COLUMNS[:3]):
            out.append({"pool": False, **cells})
    return out


def _state(key: str):
    """The editor's state as the browser left it (reading it may fail: Streamlit parses the browser's text)."""
    try:
        return S.get(key)
    except Exception:  # noqa: BLE001 - ValueError/AttributeError from Streamlit's parsing of a forged message
        return {"unreadable": True}


def layers_editor(t, state) -> tuple[tuple[int, int, int, int], ...]:
    """The conv layers' table, kept in the setting `layers` ('64-11-0-1;…'); edits are checked before use."""
    base_key = "arch_editor_base"
    if S.get(base_key, (None, 0))[0] != state.layers and state.layers != S.get("arch_editor_out"):
        S[base_key] = (state.layers, S.get(base_key, (None, 0))[1] + 1)  # changed elsewhere: a fresh table
    elif f"arch_editor_{S[base_key][1]}" not in S:  # the table was not drawn last run (another screen)
        S[base_key] = (state.layers, S[base_key][1])
    text, version = S[base_key]
    rows = [dict(zip(COLUMNS, (f, k, p, bool(pool)))) for f, k, p, pool in parse_layers(text)]
    out = None
    try:  # the browser's edits, then the library's check (types, ranges, named row), then the setting's own
        edited = apply_edits(rows, _state(f"arch_editor_{version}"))
        if not edited:
            st.error(t("arch.layers_empty"), icon=":material/error:")
            _draw(t, rows, version)
            stop()
        checked = validate_layers(edited)
        out = format_layers((c.out_channels, c.kernel, c.padding, c.pool) for c in checked.convs)
    except (CnnvizError, ValueError) as exc:  # a rewritten websocket message, not the editor
        st.error(t("arch.layers_invalid"), icon=":material/error:")
        if isinstance(exc, CnnvizError):
            show_error(exc)
        version += 1  # a fresh table of the last valid layers: Streamlit never applies the forged state
        S[base_key] = (state.layers, version)
        rows = [dict(zip(COLUMNS, (f, k, p, bool(pool)))) for f, k, p, pool in parse_layers(state.layers)]
    _draw(t, rows, version)
    if out is not None:
        S["arch_editor_out"] = state.layers = out
    return parse_layers(state.layers)


def _draw(t, rows: list[dict], version: int) -> None:
    st.data_editor(pd.DataFrame(rows, columns=list(COLUMNS)), num_rows="dynamic", key=f"arch_editor_{version}",
                   column_config={
                       "out_channels": st.column_config.NumberColumn(t("arch.col_filters"), min_value=1,
                                                                     max_value=1024, step=1, required=True),
                       "kernel": st.column_config.NumberColumn(t("arch.col_kernel"), min_value=1, max_value=15,
                                                               step=1, required=True),
                       "padding": st.column_config.NumberColumn(t("arch.col_padding"), min_value=0, max_value=8,
                                                                step=1, required=True),
                       "pool": st.column_config.CheckboxColumn(t("arch.col_pool"), default=False)})
