"""What the sessions of a class share, cached once per server: cnnviz.shared's computations behind
`st.cache_resource`, keyed by plain values — the checkpoint (path, mtime, the loaded object's id), the image by
content (sha1 of its bytes, shape, dtype), k, circular, signed, lang — the model passed as `_model` (unhashed).

Figures go through `figure(builder, *args)`: keyed by the builder and its arguments' values, kept in
cnnviz.shared.FIGURES (bounded by size, which st.cache_resource cannot do).

Every result is handed to every session without a copy: it is read-only (numpy arrays not writeable, figures
only read by st.plotly_chart). A page never changes what it gets from here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import streamlit as st

from cnnviz import shared


def model_key(model, meta: dict) -> str:
    """The checkpoint as a plain value: its path and mtime, and the loaded object (a reloaded file is another
    object; ui.widgets.network keeps one per path and mtime, so sessions get the same key)."""
    path = str(meta.get("path") or "")
    try:
        mtime = Path(path).stat().st_mtime if path else 0.0
    except OSError:  # a user model's "path" is its name, not a file
        mtime = 0.0
    return f"{path}@{mtime}#{id(model)}"


def image_key(image: np.ndarray) -> str:
    """The image by content: sha1 of its bytes, with its shape and dtype."""
    a = np.ascontiguousarray(image)
    return f"{hashlib.sha1(a.tobytes()).hexdigest()}:{a.shape}:{a.dtype}"


@st.cache_resource(max_entries=256, show_spinner=False)
def _image_maps(model: str, image: str, _model, _image):
    return shared.image_maps(_model, _image)


@st.cache_resource(max_entries=128, show_spinner=False)
def _shift_probabilities(model: str, image: str, k: int, circular: bool, _model, _image):
    return shared.shift_probabilities(_model, _image, int(k), bool(circular))


@st.cache_resource(max_entries=64, show_spinner=False)
def _stage_mosaics(model: str, image: str, stages: tuple, signed: bool, lang: str, cols: int, _maps, _titles):
    return shared.stage_mosaics(_maps, list(stages), bool(signed), lang, cols=int(cols), titles=_titles)


def figure(build, *args, **kwargs):
    """build(*args, **kwargs) — a figure builder of cnnviz and plain arguments (arrays, numbers, text) — built
    once per server and handed to every session frozen (cnnviz.shared.FrozenFigure: only st.plotly_chart it).

    What a session gets is that figure styled for its reader (cnnviz.figstyle via ui.charts.styled: separators,
    the presenter view's sizes) — a new dict around the shared data, so the cached figure is never changed, made
    once per language and kind of screen and kept with the figure (FrozenFigure.styled).

    The builders are pure: the same arguments give the same figure, so a class on one view, or a student back
    on a view seen before, costs no figure building, and st.plotly_chart no deep copy of it. The server keeps
    32 MB of them (cnnviz.shared.FIGURES), the least recently used dropped first.
    """
    from ui.charts import styled  # the reader's numbers and sizes (cnnviz.figstyle): every session its own shell

    return styled(shared.FIGURES.get(shared.call_key(build, args, kwargs), build, args, kwargs))


def image_maps(model, meta: dict, image: np.ndarray):
    """cnnviz.explore.Inspection of `image` (maps, probs, pred), read-only, shared by every session."""
    return _image_maps(model_key(model, meta), image_key(image), model, image)


def shift_probabilities(model, meta: dict, image: np.ndarray, k: int, circular: bool) -> np.ndarray:
    """(2k+1 [dy], 2k+1 [dx], classes) probabilities over shifts, read-only, shared by every session."""
    return _shift_probabilities(model_key(model, meta), image_key(image), int(k), bool(circular), model, image)


def stage_mosaics(model, meta: dict, image: np.ndarray, stages: list[str], signed: bool, lang: str,
                  titles: dict, cols: int = 16) -> dict:
    """stage -> the mosaic figure of Feature maps, `cols` maps a row (only read: never update it). `titles` is
    translated text determined by the stages' shapes and `lang`, so it is not part of the key."""
    result = image_maps(model, meta, image)
    return _stage_mosaics(model_key(model, meta), image_key(image), tuple(stages), bool(signed), lang, int(cols),
                          result.maps, titles)
