"""What the sessions of a class share: computations that depend only on plain values (a checkpoint, an image,
a setting), done once per server and handed to every session read-only.

Each function here is a plain computation (no Streamlit); ui/shared_cache.py wraps it in `st.cache_resource`
keyed by plain strings — the checkpoint as `model_key(model, meta)` (path, mtime, the loaded object), the image
as `image_key(image)` (a digest of its bytes, shape and dtype) — the model and the image themselves passed as
`_`-prefixed (unhashed) arguments:

    @st.cache_resource(max_entries=256, show_spinner=False)
    def _image_maps(model: str, image: str, _model, _image):
        return shared.image_maps(_model, _image)

`st.cache_resource` computes a key once even when thirty sessions ask at the same moment (the others wait
for the first) and hands out the same object without copying it, which is why every array returned here is
read-only and every figure is only read (st.plotly_chart serialises a figure without changing it).
`CALLS` counts the computations, so a test can check that two sessions cost one. The network's passes run on the
GPU where there is one (cnnviz.device: a copy of the shared CPU network, made once); results come back to the CPU.

    python -m cnnviz.shared    # times each computation on the shipped network, test image 0
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import Counter, OrderedDict

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch

from cnnviz.device import compute_device, for_output, model_on

CALLS: Counter = Counter()  # function name -> how many times it computed (not how many times it was asked)
_CALLS_LOCK = threading.Lock()


def counted(fn):
    """Count the calls of `fn` in CALLS[fn.__name__] (thread-safe: sessions run in threads)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _CALLS_LOCK:
            CALLS[fn.__name__] += 1
        return fn(*args, **kwargs)
    return wrapper


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


@counted
def image_maps(model, image: np.ndarray):
    """Every stage's maps, the probabilities and the prediction of one image (cnnviz.explore.inspect), read-only.

    Key (ui/shared_cache.py): the checkpoint and the image by content, a test image as any other.
    """
    from cnnviz.explore import Inspection, inspect

    result = inspect(model_on(model, compute_device()), image)
    maps = type(result.maps)((name, _read_only(m)) for name, m in result.maps.items())
    return Inspection(maps, _read_only(result.probs), result.pred)


@counted
def shift_probabilities(model, image: np.ndarray, k: int, circular: bool = False) -> np.ndarray:
    """cnnviz.shift.probabilities_over_shifts without autograd: (2k+1, 2k+1, classes), read-only.

    (2k+1)² forward passes (121 for k = 5): the costliest part of a Translation run. Key (ui/shared_cache.py):
    the checkpoint, the image by content, k, circular.
    """
    from cnnviz.shift import probabilities_over_shifts

    with torch.inference_mode():
        return _read_only(probabilities_over_shifts(for_output(model, compute_device()), image, k, circular))


@counted
def stage_mosaics(maps: dict, stages: list[str], signed: bool, lang: str, cols: int = 16,
                  titles: dict | None = None) -> dict:
    """The Feature maps screen's mosaics, stage -> go.Figure: the figures of a view, built once.

    Key (ui/shared_cache.py): the checkpoint, the image by content, the stages, signed, lang — everything the
    figures show. `titles` (stage -> text) is not part of the key: it is translated text that the stages'
    shapes and `lang` determine.
    """
    from cnnviz.figures import mosaic_figure

    out = {}
    for stage in stages:
        m = maps[stage]
        out[stage] = FrozenFigure.of(mosaic_figure(m, (titles or {}).get(stage, stage), symmetric=signed,
                                                   cols=min(cols, m.shape[0]), lang=lang))
    return out


@counted
def test_consistency(model, images: np.ndarray, k: int, circular: bool = False) -> float:
    """The share of test images whose class survives two random shifts of up to k pixels (cnnviz.shift).

    Nine seconds over 10,000 images on two cores: a class pressing the button thirty times must not cost
    thirty times that. No screen calls it today: the Translation screen keeps the values it measured with
    cnnviz.shift.consistency in its own server-wide dict (pages/translation.py, `measured`), keyed by
    (checkpoint path, mtime, k, circular).
    """
    from cnnviz.shift import consistency

    return float(consistency(for_output(model, compute_device()), images, k, circular))


class FrozenFigure(go.Figure):
    """A figure built once and shown by many sessions: only its dict form — what st.plotly_chart serialises on
    every run, after a deep copy of every trace — made once, here, in a plotly Figure shell (what
    st.plotly_chart accepts: it only calls `to_dict()`). Read it with `to_dict()`; it holds none of plotly's graph
    objects (`.data`, `.layout` are not there).

    Profiled with thirty sessions (bench/load.py), building plotly figures and copying them in `to_dict` took
    more than half the server's CPU. The graph objects are dropped: they held as much memory again. The shell is
    not a go.Figure() either: an empty one costs 3 ms (plotly copies its default template into it), once per
    chart and run.

    `styled(lang, view, share)`: this figure as one reader sees it (cnnviz.figstyle), made once per reader's
    kind and kept with the figure, so a class on one view styles each chart once, not once per run.
    """

    nbytes: int = 0  # the size of its JSON
    MAX_STYLES = 16  # readers' kinds kept per figure (languages × presenter / phone / desktop sizes × shares)

    def __init__(self, frozen: dict | None = None):  # not go.Figure.__init__: see the docstring
        self._frozen = frozen if frozen is not None else {"data": [], "layout": {}}
        self._styles: OrderedDict = OrderedDict()  # (lang, view, share) -> FrozenFigure
        self._styles_lock = threading.Lock()
        self._memo: dict = {}

    @classmethod
    def of(cls, figure: go.Figure) -> "FrozenFigure":
        frozen = figure.to_dict()  # a deep copy, numeric arrays as base64 typed arrays
        _text_arrays_to_lists(frozen)  # text arrays: compact lists, not fixed-width numpy strings
        shell = cls(frozen)
        shell.nbytes = len(pio.to_json(frozen, validate=False))  # what a session receives: the cache's measure
        return shell

    @classmethod
    def wrap(cls, figure_dict: dict) -> "FrozenFigure":
        """A figure's dict (already a plotly figure's to_dict(), e.g. one styled for a reader by
        cnnviz.figstyle) in the same shell, without validating or measuring it again."""
        return cls(figure_dict)

    def to_dict(self) -> dict:
        # Fresh top-level and trace dicts: plotly.io.to_json removes each trace's "uid" in place; the values
        # below them are shared and only read.
        return {**self._frozen, "data": [dict(trace) for trace in self._frozen["data"]]}

    def to_plotly_json(self) -> dict:
        return self.to_dict()

    def __repr__(self) -> str:
        return f"FrozenFigure({len(self._frozen.get('data') or ())} traces, {self.nbytes} bytes of JSON)"

    def styled(self, lang: str, view, share: float | None = None) -> "FrozenFigure":
        """This figure styled for a reader (cnnviz.figstyle.style: `lang`, `view` a figstyle.View, `share`), made
        once and kept with the figure — the same object for every session of that kind of reader, a new one for
        another language, view or share. At most MAX_STYLES kinds kept, the least recently used dropped."""
        view = view.for_figures()  # a desktop's size does not change the figure: one style for every desktop
        share = share if view.present else None  # read only by the presenter view
        key = (lang, view, share)
        with self._styles_lock:
            hit = self._styles.get(key)
            if hit is not None:
                self._styles.move_to_end(key)
                return hit
        from cnnviz.figstyle import style

        made = FrozenFigure(style(self._frozen, lang, view, share))  # style never changes its argument
        with _CALLS_LOCK:
            CALLS["styled"] += 1
        with self._styles_lock:
            made = self._styles.setdefault(key, made)  # two sessions at once: both get the first one kept
            self._styles.move_to_end(key)
            while len(self._styles) > self.MAX_STYLES:
                self._styles.popitem(last=False)
        return made

    def memo(self, name: str, make):
        """make() once for this figure (e.g. its text alternative), kept with it."""
        if name not in self._memo:
            self._memo[name] = make()  # two sessions at once may both make it: the same value
        return self._memo[name]


def _text_arrays_to_lists(obj) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, np.ndarray):
                obj[key] = value.tolist()
            else:
                _text_arrays_to_lists(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _text_arrays_to_lists(value)


class FigureCache:
    """Frozen figures by key, shared by every session of the server: at most `max_bytes` of them (their JSON),
    the least recently used dropped first. Thirty sessions asking for a new key at once cost one build: the
    others wait for it."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, FrozenFigure] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}  # key -> held while that key is built

    def _hit(self, key: str) -> FrozenFigure | None:
        with self._lock:
            fig = self._items.get(key)
            if fig is not None:
                self._items.move_to_end(key)
            return fig

    def get(self, key: str, build, args: tuple, kwargs: dict) -> FrozenFigure:
        """The figure of `key`, built by build(*args, **kwargs) when it is not here."""
        fig = self._hit(key)
        if fig is not None:
            return fig
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            fig = self._hit(key)  # built by the session we waited for
            if fig is not None:
                return fig
            try:
                fig = built_figure(build, args, kwargs)
                with self._lock:
                    self._items[key] = fig
                    self._bytes += fig.nbytes
                    while self._bytes > self.max_bytes and len(self._items) > 1:
                        _, old = self._items.popitem(last=False)
                        self._bytes -= old.nbytes
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return fig

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


# What the server keeps: a frozen figure holds 2 to 4 times its JSON in memory, so about 100 MB at most; a view
# of Feature maps is 17 figures and 0.3 MB of JSON, a convolution animation 0.6 MB.
FIGURES = FigureCache(max_bytes=32 * 2**20)


def call_key(build, args: tuple, kwargs: dict) -> str:
    """A digest of `build(*args, **kwargs)`: the function's qualified name and every argument by value — arrays
    by their bytes, shape and dtype. Raises TypeError for an argument it cannot read as a value (a model, a
    dataset): such things are keyed by the caller, not guessed."""
    h = hashlib.sha1(f"{build.__module__}.{build.__qualname__}".encode())

    def feed(v) -> None:
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            h.update(f"A{a.shape}{a.dtype.str}".encode())
            h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
        elif isinstance(v, (list, tuple)):
            h.update(f"{type(v).__name__}{len(v)}(".encode())
            for x in v:
                feed(x)
            h.update(b")")
        elif isinstance(v, dict):
            h.update(f"dict{len(v)}(".encode())
            for k in sorted(v, key=repr):
                feed(k)
                feed(v[k])
            h.update(b")")
        elif v is None or isinstance(v, (str, bool, int, float, np.generic)):
            h.update(repr((type(v).__name__, v.item() if isinstance(v, np.generic) else v)).encode())
        else:
            raise TypeError(f"call_key: cannot key an argument of type {type(v).__name__}")

    feed(args)
    feed(kwargs)
    return h.hexdigest()


def built_figure(build, args: tuple, kwargs: dict) -> FrozenFigure:
    """build(*args, **kwargs) frozen; counted in CALLS["figure:<name>"]."""
    with _CALLS_LOCK:
        CALLS[f"figure:{build.__name__}"] += 1
    return FrozenFigure.of(build(*args, **kwargs))


if __name__ == "__main__":
    import time

    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse
    from cnnviz.explore import conv_groups

    torch.set_num_threads(1)
    model, meta = load_checkpoint(SHIPPED)
    image = images_to_browse(meta["dataset"]).images[0]

    def timed(label, fn):
        t0 = time.perf_counter()
        out = fn()
        print(f"{label}: {(time.perf_counter() - t0) * 1000:.0f} ms")
        return out

    result = timed("image_maps", lambda: image_maps(model, image))
    timed("shift_probabilities k=5", lambda: shift_probabilities(model, image, 5))
    stages = [s for g in conv_groups(model).values() for s in g]
    timed("stage_mosaics (12 figures)", lambda: stage_mosaics(result.maps, stages, True, "fr"))
    print(dict(CALLS))
