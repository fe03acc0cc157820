"""Questions for the class about what a screen shows, as the plain dicts `cnnviz.classroom.ClassStore.ask` takes.

    offers("convolution", have_exercises=True)      # [("numeric", "class.offer.numeric"), ("kernel", …), …]
    question = build("kernel", "convolution", settings, seed=3)
    question = predict_question(probs, classes, image, seed=0)   # Feature maps: which class will it predict?

Kinds: numeric (from `cnnviz.exercises.exercise_for_view`: this cell, this size, these parameters), multiple choice
(which class will the network predict? does the prediction change after this shift? which kernel produced this
map?) and true/false (a statement about the view, true or false by the numbers of the view). Every answer is
computed by the app's own engines (cnnviz.ops, the network, the architecture tracer), never typed in.

A question's texts are catalogue ids with parameters ("class.q.*", locales/*/classroom.po), so each student reads
it in their own language; what it is about travels as plain values: `grids` (lists of rows, "?" marks the cell
asked), `lines` (one message per layer), `image` (uint8 rows). `answer` is stored apart by the store and reaches
students only at the reveal.

Also here: `histogram_figure`, the projector's bar chart of the answers, readable from the back row. (Numbers typed
by students are read by `cnnviz.exercises.parse_answer`, as on the Exercises screen.) No Streamlit here.
"""

from __future__ import annotations

import math

import numpy as np

from cnnviz import CnnvizError
from cnnviz.ops import conv2d, kernel_preset, output_size, parse_grid

QUICK = ("quick_choice", "quick_truefalse")  # every screen: a question written on the board
VIEW_OFFERS = {  # screen -> the questions it offers (numeric ones need cnnviz.exercises)
    "convolution": ("numeric", "numeric_more", "kernel", "tf_conv_size"),
    "multichannel": ("numeric",),
    "pooling": ("numeric", "tf_pool_size"),
    "feature_maps": ("predict", "tf_right"),
    "translation": ("shift", "predict"),
    "architecture": ("numeric", "numeric_more", "tf_fc_share"),
    "exercises": ("numeric",),  # the exercise on screen, put to the whole class
}
NUMERIC_LABELS = {  # what cnnviz.exercises.exercise_for_view asks on each screen (seed 0: "numeric", 1: "numeric_more")
    ("convolution", "numeric"): "class.offer.conv_cell", ("convolution", "numeric_more"): "class.offer.conv_size",
    ("pooling", "numeric"): "class.offer.pool_cell", ("multichannel", "numeric"): "class.offer.conv_params",
    ("architecture", "numeric"): "class.offer.fc_inputs", ("architecture", "numeric_more"): "class.offer.rf",
    ("exercises", "numeric"): "class.offer.exercise",
}
OFFER_LABELS = {  # offer -> its label in the "Ask the class" menu
    "kernel": "class.offer.kernel",
    "tf_conv_size": "class.offer.tf_size", "tf_pool_size": "class.offer.tf_size", "predict": "class.offer.predict",
    "tf_right": "class.offer.tf_right", "shift": "class.offer.shift", "tf_fc_share": "class.offer.tf_fc_share",
    "quick_choice": "class.offer.quick_choice", "quick_truefalse": "class.offer.quick_truefalse",
}
NEEDS_NETWORK = {"predict", "tf_right", "shift"}  # built from the network's answer on the view's image
LETTERS = "ABCDEFGHIJ"
DECIMALS_TOLERANCE = 0.005  # a non-integer numeric answer is right to two decimals (as cnnviz.exercises checks)


def _exercises():
    """cnnviz.exercises, when it is there (the numeric questions come from it)."""
    try:
        from cnnviz import exercises
    except ImportError:
        return None
    return exercises if hasattr(exercises, "exercise_for_view") else None


def offers(screen_id: str, have_exercises: bool | None = None, have_network: bool = True) -> list[tuple[str, str]]:
    """[(offer id, label id)] for "Ask the class about this view" on `screen_id`, the view's own first."""
    if have_exercises is None:
        have_exercises = _exercises() is not None
    out = []
    for offer in VIEW_OFFERS.get(screen_id, ()):
        if offer.startswith("numeric") and not have_exercises or offer in NEEDS_NETWORK and not have_network:
            continue
        out.append((offer, NUMERIC_LABELS.get((screen_id, offer)) or OFFER_LABELS[offer]))
    return out + [(q, OFFER_LABELS[q]) for q in QUICK]


def build(offer: str, screen_id: str, settings: dict, seed: int = 0, *, probs=None, classes=None, image=None,
          label=None, shifted_probs=None, input_shape=None) -> dict | None:
    """The question `offer` about the view (`settings`: the screen's fields by name), or None when the view does not
    make one (e.g. a grid that does not parse). Network questions take the network's softmax on the image (`probs`,
    and `shifted_probs` for the shift), `classes`, the image and its true label; Architecture takes `input_shape`."""
    try:
        if offer == "quick_choice":
            return quick_choice()
        if offer == "quick_truefalse":
            return quick_truefalse()
        if offer in ("numeric", "numeric_more"):
            ex = _exercises()
            if ex and screen_id == "exercises":  # its own exercise (the predict kind is not a number: None)
                exercise = ex.make_exercise(settings["kind"], int(settings["seed"]))
            else:
                exercise = ex and ex.exercise_for_view(screen_id, settings, seed + (offer == "numeric_more"))
            return numeric_question(exercise, screen_id) if exercise is not None else None
        if offer == "kernel":
            return kernel_question(parse_grid(settings["input"], "@class.grid.input"),
                                   _view_kernel(settings), int(settings.get("stride", 1)),
                                   int(settings.get("padding", 0)), int(settings.get("dilation", 1)), seed)
        if offer == "tf_conv_size":
            x = parse_grid(settings["input"], "@class.grid.input")
            k = _view_kernel(settings)
            return size_statement("conv", x.shape[0], k.shape[0], int(settings.get("stride", 1)),
                                  int(settings.get("padding", 0)), int(settings.get("dilation", 1)), seed)
        if offer == "tf_pool_size":
            x = parse_grid(settings["input"], "@class.grid.input")
            return size_statement("pool", x.shape[0], int(settings.get("size", 2)), int(settings.get("stride", 2)),
                                  0, 1, seed, mode=settings.get("mode", "max"))
        if offer == "predict" and probs is not None:
            return predict_question(probs, classes, image, seed)
        if offer == "tf_right" and probs is not None and label is not None:
            return right_statement(probs, label, image)
        if offer == "shift" and probs is not None and shifted_probs is not None:
            return shift_question(probs, shifted_probs, int(settings.get("dx", 0)), int(settings.get("dy", 0)),
                                  bool(settings.get("circular", False)), image)
        if offer == "tf_fc_share" and input_shape is not None:
            return fc_share_statement(input_shape, settings.get("layers", ""), int(settings.get("fc", 120)), seed)
    except (CnnvizError, KeyError, TypeError, ValueError, IndexError):
        return None
    return None


def _view_kernel(settings: dict) -> np.ndarray:
    k = parse_grid(settings["kernel"], "@class.grid.kernel", max_size=7)
    return k[::-1, ::-1] if settings.get("flip") else k


def _plain(v):
    """numpy numbers and arrays -> JSON values (ints when whole)."""
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if abs(f) < 1e-9:
            return 0
        return int(round(f)) if abs(f - round(f)) < 1e-9 and abs(f) < 1e15 else round(f, 6)
    return v


def _grid(label_id: str, values, mark=None) -> dict:
    """A grid to show with the question; `mark` (row, col) replaces that cell by "?" (the cell asked)."""
    rows = _plain(np.asarray(values))
    if mark is not None:
        rows[mark[0]][mark[1]] = "?"
    return {"label": {"id": label_id}, "values": rows}


def _unknown(shape, mark) -> list:
    rows = [["·"] * shape[1] for _ in range(shape[0])]
    rows[mark[0]][mark[1]] = "?"
    return rows


def _image(image) -> list | None:
    if image is None:
        return None
    a = np.asarray(image)
    return a.astype(np.uint8).tolist() if a.ndim in (2, 3) and a.size <= 64 * 64 * 3 else None


# ---------------------------------------------------------------- questions

def quick_choice(n: int = 4) -> dict:
    """A question written on the board, answered A, B, C or D (no right answer stored: the reveal shows the votes)."""
    return {"kind": "choice", "prompt": {"id": "class.q.quick_choice"},
            "options": [{"letter": LETTERS[i]} for i in range(n)], "answer": None}


def quick_truefalse() -> dict:
    return {"kind": "truefalse", "prompt": {"id": "class.q.quick_truefalse"}, "answer": None}


def numeric_question(exercise, screen_id: str = "") -> dict | None:
    """A numeric question from an exercise (`.kind`, `.data`, `.answer` as cnnviz.exercises makes them): the
    data shown as grids and lines, the answer right to two decimals when it is not whole."""
    kind, d = exercise.kind, exercise.data
    answer = _plain(exercise.answer)
    q: dict = {"kind": "numeric", "answer": answer,
               "tolerance": 0.0 if float(answer).is_integer() else DECIMALS_TOLERANCE, "exercise": kind,
               "source": {"screen": screen_id}}
    if kind == "conv_cell":
        x, k = np.asarray(d["input"]), np.asarray(d["kernel"])
        shape = conv2d(x, k, d["stride"], d["padding"], d["dilation"]).shape
        q["prompt"] = {"id": "class.q.conv_cell", "params": {"stride": d["stride"], "padding": d["padding"],
                                                              "dilation": d["dilation"]}}
        q["grids"] = [_grid("class.grid.input", x), _grid("class.grid.kernel", k),
                      {"label": {"id": "class.grid.output"}, "values": _unknown(shape, (d["row"], d["col"]))}]
    elif kind == "conv_output_size":
        q["prompt"] = {"id": "class.q.conv_output_size", "params": {k: d[k] for k in ("n", "k", "stride", "padding",
                                                                                    "dilation")}}
    elif kind == "conv_params":
        q["prompt"] = {"id": "class.q.conv_params", "params": {"c_in": d["c_in"], "c_out": d["c_out"], "k": d["k"],
                                                                "bias": "True" if d["bias"] else "False"}}
    elif kind == "pool_cell":
        x = np.asarray(d["input"])
        n_out = (output_size(x.shape[0], d["size"], d["stride"]), output_size(x.shape[1], d["size"], d["stride"]))
        q["prompt"] = {"id": "class.q.pool_max" if d["mode"] == "max" else "class.q.pool_avg",
                       "params": {"size": d["size"], "stride": d["stride"]}}
        q["grids"] = [_grid("class.grid.input", x),
                      {"label": {"id": "class.grid.output"}, "values": _unknown(n_out, (d["row"], d["col"]))}]
    elif kind == "fc_inputs":
        c, h, w = d["input_shape"]
        q["prompt"] = {"id": "class.q.fc_inputs", "params": {"c": c, "h": h, "w": w}}
        q["lines"] = [{"id": "class.q.line_conv_pool" if layer["pool"] else "class.q.line_conv",
                       "params": {"n": i, "filters": layer["filters"], "k": layer["k"], "padding": layer["padding"]}}
                      for i, layer in enumerate(d["layers"], start=1)]
    elif kind == "receptive_field":
        q["prompt"] = {"id": "class.q.receptive_field"}
        q["lines"] = [{"id": "class.q.line_rf", "params": {"n": i, **{k: layer[k] for k in ("k", "stride", "padding",
                                                                                           "dilation")}}}
                      for i, layer in enumerate(d["layers"], start=1)]
    else:
        return None
    return q


def predict_question(probs, classes, image=None, seed: int = 0, n: int = 4) -> dict:
    """Feature maps: which class will the network predict for this image? The options are its n most likely
    classes in a seeded order; the answer is the one it predicts."""
    probs = np.asarray(probs, dtype=float)
    top = [int(i) for i in np.argsort(-probs, kind="stable")[:min(n, len(probs))]]
    order = np.random.default_rng(seed).permutation(len(top))
    options = [top[i] for i in order]
    return {"kind": "choice", "prompt": {"id": "class.q.predict"}, "image": _image(image),
            "options": [{"class": str(classes[i])} for i in options], "answer": options.index(int(probs.argmax()))}


def shift_question(probs, shifted_probs, dx: int, dy: int, circular: bool, image=None) -> dict:
    """Translation: does the prediction change after this shift? (the network's answer on both images)."""
    changed = int(np.argmax(probs)) != int(np.argmax(shifted_probs))
    return {"kind": "choice", "image": _image(image),
            "prompt": {"id": "class.q.shift_circular" if circular else "class.q.shift", "params": {"dx": dx, "dy": dy}},
            "options": [{"id": "class.opt.same"}, {"id": "class.opt.changes"}], "answer": int(changed)}


def right_statement(probs, label: int, image=None) -> dict:
    """Feature maps, true or false: the network classifies this image correctly."""
    return {"kind": "truefalse", "prompt": {"id": "class.q.tf_right"}, "image": _image(image),
            "answer": bool(int(np.argmax(probs)) == int(label))}


def kernel_question(x, kernel, stride: int = 1, padding: int = 0, dilation: int = 1, seed: int = 0) -> dict:
    """Convolution: which kernel produced this map? The input and the output are shown; the options are the
    view's kernel and three others of its size that give another output (presets, then random ones), in a
    seeded order."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    out = conv2d(x, kernel, stride, padding, dilation)
    size = kernel.shape[0]
    rng = np.random.default_rng(seed)
    names = ["sobel_x", "sobel_y", "laplacian", "sharpen", "outline", "emboss", "seed"] if kernel.shape == (3, 3) \
        else []
    names += ["identity", "box_blur"]
    candidates = [kernel_preset(n, size) for n in names if kernel_preset(n, size).shape == kernel.shape]
    candidates = [candidates[i] for i in rng.permutation(len(candidates))]
    candidates += [rng.integers(-2, 3, size=kernel.shape) for _ in range(20)]
    options, outputs = [kernel], [out]
    for k in candidates:
        o = conv2d(x, k, stride, padding, dilation)
        if not any(np.allclose(o, seen) for seen in outputs) and not np.array_equal(k, kernel):
            options.append(k)
            outputs.append(o)
        if len(options) == 4:
            break
    order = rng.permutation(len(options))
    return {"kind": "choice", "prompt": {"id": "class.q.kernel", "params": {"stride": stride, "padding": padding,
                                                                             "dilation": dilation}},
            "grids": [_grid("class.grid.input", x), _grid("class.grid.output", out)],
            "options": [{"grid": _plain(np.round(options[i], 3))} for i in order],
            "answer": int(np.flatnonzero(order == 0)[0])}


def size_statement(op: str, n: int, k: int, stride: int, padding: int, dilation: int, seed: int = 0,
                   mode: str = "max") -> dict:
    """True or false: "the output is m×m" for the view's convolution or pooling, where m is the right size or,
    for odd seeds, one off (never below 1)."""
    right = output_size(n, k, stride, padding, dilation)
    claim = right if seed % 2 == 0 else (right + 1 if seed % 4 == 1 or right == 1 else right - 1)
    prompt = ({"id": "class.q.tf_conv_size", "params": {"n": n, "k": k, "stride": stride, "padding": padding,
                                                        "dilation": dilation, "m": claim}} if op == "conv" else
              {"id": "class.q.tf_pool_max_size" if mode == "max" else "class.q.tf_pool_avg_size",
               "params": {"n": n, "k": k, "stride": stride, "m": claim}})
    return {"kind": "truefalse", "prompt": prompt, "answer": claim == right}


def fc_share_statement(input_shape, layers: str, fc: int, seed: int = 0) -> dict | None:
    """Architecture, true or false: "the first linear layer holds more than half of this network's parameters"
    (counted by the architecture tracer; None when the shapes collapse)."""
    from cnnviz.architecture import trace_config
    from cnnviz.models import ConvNetConfig, ConvSpec

    groups = [g.split("-") for g in str(layers).split(";") if g.strip()]
    convs = tuple(ConvSpec(int(f), int(k), int(p), bool(int(pool))) for f, k, p, pool in groups)
    trace = trace_config(ConvNetConfig(tuple(int(v) for v in input_shape), convs, int(fc), 10))
    if trace.fc1_in is None:
        return None
    fc1 = next(r.params for r in trace.rows if r.name == "fc1")
    return {"kind": "truefalse", "prompt": {"id": "class.q.tf_fc_share"}, "answer": fc1 > trace.total_params / 2}


# ---------------------------------------------------------------- the projector's chart

def histogram_figure(labels: list[str], counts: list[int], correct: list[bool | None], title: str, count_axis: str,
                     height: int = 460, y_max: int | None = None):
    """Bars of the answers (one per label, its count written on it), the right ones green once revealed
    (`correct[i]` True), others blue; big type for the back row of a lecture hall."""
    import plotly.graph_objects as go

    colors = ["#2e7d32" if c else "#9e9e9e" if c is False else "#1565c0" for c in correct]
    fig = go.Figure(go.Bar(x=list(labels), y=list(counts), marker_color=colors, text=[str(c) for c in counts],
                           textposition="outside", textfont={"size": 30}, cliponaxis=False,
                           hovertemplate="%{x}: %{y}<extra></extra>"))
    top = max([*counts, 1]) if y_max is None else max(y_max, 1)
    fig.update_layout(title={"text": title, "font": {"size": 26}}, height=height, bargap=0.25,
                      margin={"l": 60, "r": 20, "t": 70, "b": 60}, font={"size": 24}, showlegend=False,
                      yaxis={"title": {"text": count_axis}, "range": [0, top * 1.25], "dtick": max(1, math.ceil(top / 5)),
                             "tickfont": {"size": 20}},
                      xaxis={"type": "category", "tickfont": {"size": 28}})
    return fig
