"""cnnviz.exercises: every kind's answer against torch.nn.functional and the formulas on many seeds, the hints of
typical wrong answers (each wrong value computed here by hand, the way a student would get it), same seed → same
exercise, typed answers in French and English, values from a screen's view, hostile data."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnviz import CnnvizError
from cnnviz.exercises import (
    KINDS,
    MAX_SEED,
    ExerciseError,
    exercise_for_view,
    make_exercise,
    make_exercise_from,
    parse_answer,
)
from cnnviz.i18n import tr

SEEDS = range(300)
seeds = given(st.integers(0, MAX_SEED))
many = settings(max_examples=150, deadline=None)


def hint(ex, value) -> str | None:
    msg = ex.diagnose(value)
    return None if msg is None else msg.id


def tensor(rows) -> torch.Tensor:
    return torch.tensor(np.array(rows, dtype=np.float64))


# ---------------------------------------------------------------- answers vs torch and the formulas

def conv_cell_torch(d) -> float:
    out = F.conv2d(tensor(d["input"])[None, None], tensor(d["kernel"])[None, None], stride=d["stride"],
                   padding=d["padding"], dilation=d["dilation"])
    return out[0, 0, d["row"], d["col"]].item()


def output_size_formula(n, k, s, p, d) -> int:
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1


def check_conv_cell(seed):
    ex = make_exercise("conv_cell", seed)
    assert isinstance(ex.answer, (int, float)) and ex.answer == pytest.approx(conv_cell_torch(ex.data), abs=1e-9)
    assert ex.check(ex.answer) and not ex.check(ex.answer + 1)


def check_output_size(seed):
    ex = make_exercise("conv_output_size", seed)
    d = ex.data
    x = torch.zeros(1, 1, d["n"], d["n"], device="meta")
    out = F.conv2d(x, torch.zeros(1, 1, d["k"], d["k"], device="meta"), stride=d["stride"], padding=d["padding"],
                   dilation=d["dilation"])
    assert ex.answer == out.shape[-1] == output_size_formula(d["n"], d["k"], d["stride"], d["padding"], d["dilation"])
    assert isinstance(ex.answer, int) and ex.answer >= 1


def check_conv_params(seed):
    ex = make_exercise("conv_params", seed)
    d = ex.data
    with torch.device("meta"):
        conv = nn.Conv2d(d["c_in"], d["c_out"], d["k"], bias=d["bias"])
    assert ex.answer == sum(p.numel() for p in conv.parameters())
    assert ex.answer == d["c_out"] * d["c_in"] * d["k"] ** 2 + (d["c_out"] if d["bias"] else 0)


def check_pool_cell(seed):
    ex = make_exercise("pool_cell", seed)
    d = ex.data
    pool = F.max_pool2d if d["mode"] == "max" else F.avg_pool2d
    out = pool(tensor(d["input"])[None, None], d["size"], d["stride"])
    assert ex.answer == pytest.approx(out[0, 0, d["row"], d["col"]].item(), abs=1e-9)
    assert ex.check(round(ex.answer, 2))  # two decimals are enough


def check_fc_inputs(seed):
    ex = make_exercise("fc_inputs", seed)
    d = ex.data
    x = torch.zeros(1, *d["input_shape"], device="meta")
    for layer in d["layers"]:
        weight = torch.zeros(layer["filters"], x.shape[1], layer["k"], layer["k"], device="meta")
        x = F.relu(F.conv2d(x, weight, padding=layer["padding"]))
        if layer["pool"]:
            x = F.max_pool2d(x, 2)
    assert ex.answer == torch.flatten(x, 1).shape[1]
    c, h, w = d["input_shape"]  # and by the formula
    for layer in d["layers"]:
        c, h, w = layer["filters"], h + 2 * layer["padding"] - layer["k"] + 1, w + 2 * layer["padding"] - layer["k"] + 1
        if layer["pool"]:
            h, w = h // 2, w // 2
    assert ex.answer == c * h * w


def receptive_field_torch(layers) -> int:
    """The rows of the input a central unit of the last layer depends on (all weights 1, autograd)."""
    side = 1
    for layer in layers:
        side = side * layer["stride"] + layer["dilation"] * layer["k"] + 2 * layer["padding"]
    n = 4 * side + 16  # large enough for the field of a central unit to stay inside the image
    x = torch.ones(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    y = x
    for layer in layers:
        y = F.conv2d(y, torch.ones(1, 1, layer["k"], layer["k"], dtype=torch.float64), stride=layer["stride"],
                     padding=layer["padding"], dilation=layer["dilation"])
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    return int(rows.max() - rows.min() + 1)


def check_receptive_field(seed):
    ex = make_exercise("receptive_field", seed)
    assert ex.answer == receptive_field_torch(ex.data["layers"])


CHECKS = {"conv_cell": check_conv_cell, "conv_output_size": check_output_size, "conv_params": check_conv_params,
          "pool_cell": check_pool_cell, "fc_inputs": check_fc_inputs, "receptive_field": check_receptive_field}


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_answers_agree_with_torch_and_the_formula_on_many_seeds(kind):
    for seed in SEEDS:
        CHECKS[kind](seed)


@many
@seeds
def test_conv_cell_any_seed(seed):
    check_conv_cell(seed)


@many
@seeds
def test_output_size_and_params_any_seed(seed):
    check_output_size(seed)
    check_conv_params(seed)


@many
@seeds
def test_pool_cell_and_receptive_field_any_seed(seed):
    check_pool_cell(seed)
    check_receptive_field(seed)


@settings(max_examples=40, deadline=None)
@seeds
def test_fc_inputs_any_seed(seed):
    check_fc_inputs(seed)


def test_the_generated_exercises_vary():
    """Seeds cover the settings that make the hints useful: padding, dilation, stride, both poolings."""
    cells = [make_exercise("conv_cell", s).data for s in SEEDS]
    assert {c["padding"] for c in cells} >= {0, 1} and {c["dilation"] for c in cells} == {1, 2}
    assert {c["stride"] for c in cells} == {1, 2}
    assert any(not float(make_exercise("conv_cell", s).answer).is_integer() for s in SEEDS)  # kernels in halves
    assert {make_exercise("pool_cell", s).data["mode"] for s in range(30)} == {"max", "avg"}
    assert len({json.dumps(c) for c in cells}) == len(cells)


def test_predict_is_the_shipped_networks_prediction():
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse, to_tensor

    model, meta = load_checkpoint(SHIPPED)
    ds = images_to_browse("fashion-mnist")
    for seed in range(12):
        ex = make_exercise("predict", seed)
        d = ex.data
        with torch.inference_mode():
            logits = model(to_tensor(ds.images[d["index"]][None]))
        assert ex.answer == int(logits.argmax()) and d["label"] == int(ds.labels[d["index"]])
        assert d["classes"] == list(meta["classes"])
        assert ex.check(ex.answer) and ex.check(d["classes"][ex.answer]) and ex.check(str(ex.answer))
        assert not ex.check((ex.answer + 1) % 10) and not ex.check("Banana") and not ex.check(-1)


# ---------------------------------------------------------------- same seed, same exercise

def test_same_seed_same_exercise_in_another_process():
    here = {kind: make_exercise(kind, 17).to_json() for kind in KINDS if kind != "predict"}
    code = ("import json; from cnnviz.exercises import make_exercise, KINDS; "
            "print(json.dumps({k: make_exercise(k, 17).to_json() for k in KINDS if k != 'predict'}))")
    there = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                      env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=".").stdout)
    assert there == here
    for kind in KINDS:
        a, b = make_exercise(kind, 5), make_exercise(kind, 5)
        assert a.data == b.data and a.answer == b.answer
        json.dumps(a.data)  # plain JSON values


def test_bad_kind_or_seed():
    for kind, seed in [("nope", 1), (None, 1), ("conv_cell", -1), ("conv_cell", MAX_SEED + 1), ("conv_cell", 1.5),
                       ("conv_cell", "7"), ("conv_cell", True)]:
        with pytest.raises(ExerciseError):
            make_exercise(kind, seed)


# ---------------------------------------------------------------- hints: wrong values computed by hand

def by_hand_conv(image, kernel, r0, c0, step=1):
    """One output value as a student computes it: window at (r0, c0) of `image`, cells `step` apart."""
    image, kernel = np.array(image), np.array(kernel)
    kh, kw = kernel.shape
    window = image[r0:r0 + step * (kh - 1) + 1:step, c0:c0 + step * (kw - 1) + 1:step]
    return float((window * kernel).sum())


CONV = dict(input=[[1, 2, 0, 3, 1], [0, 1, 2, 1, 0], [3, 1, 0, 2, 2], [1, 0, 1, 3, 1], [2, 2, 1, 0, 1]],
            kernel=[[1, 0, -1], [2, 1, 0], [0, 1, 1]])


def test_hints_of_a_convolution_cell():
    ex = make_exercise_from("conv_cell", dict(CONV, stride=1, padding=1, dilation=1, row=1, col=1))
    assert ex.answer == conv_cell_torch(ex.data)
    assert hint(ex, ex.answer) is None
    assert hint(ex, by_hand_conv(CONV["input"], CONV["kernel"], 1, 1)) == "ex.hint.conv_forgot_padding"
    padded = np.pad(np.array(CONV["input"]), 1)
    flipped = np.array(CONV["kernel"])[::-1, ::-1]
    assert hint(ex, by_hand_conv(padded, flipped, 1, 1)) == "ex.hint.conv_flipped"
    assert hint(ex, float(padded[1:4, 1:4].sum())) == "ex.hint.conv_sum_window"
    assert hint(ex, 1000) == "ex.hint.conv_general"
    assert ex.diagnose(by_hand_conv(CONV["input"], CONV["kernel"], 1, 1)).params == {"p": 1}

    dil = make_exercise_from("conv_cell", dict(CONV, stride=1, padding=0, dilation=2, row=0, col=0))
    assert hint(dil, by_hand_conv(CONV["input"], CONV["kernel"], 0, 0)) == "ex.hint.conv_forgot_dilation"
    strided = make_exercise_from("conv_cell", dict(CONV, stride=2, padding=0, dilation=1, row=1, col=1))
    assert strided.answer == by_hand_conv(CONV["input"], CONV["kernel"], 2, 2)
    assert hint(strided, by_hand_conv(CONV["input"], CONV["kernel"], 1, 1)) == "ex.hint.conv_forgot_stride"
    swapped = make_exercise_from("conv_cell", dict(CONV, stride=1, padding=0, dilation=1, row=2, col=1))
    assert swapped.answer == 1 and hint(swapped, by_hand_conv(CONV["input"], CONV["kernel"], 1, 2)) == "ex.hint.conv_swapped"


def test_hints_of_an_output_size():
    ex = make_exercise_from("conv_output_size", dict(n=32, k=5, stride=2, padding=2, dilation=1))
    assert ex.answer == 16  # ⌊(32 + 4 − 4 − 1) / 2⌋ + 1
    assert hint(ex, (32 - 5) // 2 + 1) == "ex.hint.size_forgot_padding"  # 14
    assert hint(ex, (32 + 2 - 5) // 2 + 1) == "ex.hint.size_padding_once"  # 15
    assert hint(ex, 32 + 4 - 5 + 1) == "ex.hint.size_forgot_stride"  # 32
    assert hint(ex, 16.5) == "ex.hint.size_no_floor"  # (32 + 4 − 4 − 1) / 2 + 1 without the floor
    assert hint(ex, 17) == "ex.hint.size_ceil"
    assert hint(ex, 99) == "ex.hint.size_general"
    dil = make_exercise_from("conv_output_size", dict(n=28, k=3, stride=1, padding=0, dilation=2))
    assert dil.answer == 24 and hint(dil, 26) == "ex.hint.size_forgot_dilation"
    plain = make_exercise_from("conv_output_size", dict(n=5, k=3, stride=1, padding=0, dilation=1))
    assert plain.answer == 3 and hint(plain, 2) == "ex.hint.size_forgot_one" and hint(plain, 4) == "ex.hint.size_forgot_minus_one"


def test_hints_of_parameters():
    ex = make_exercise_from("conv_params", dict(c_in=3, c_out=64, k=11, bias=True))  # the slide's conv1
    assert ex.answer == 23_296
    assert hint(ex, 64 * 3 * 11 * 11) == "ex.hint.params_forgot_bias"
    assert hint(ex, 64 * 11 * 11 + 64) == "ex.hint.params_forgot_c_in"
    assert hint(ex, 64 * 3 * 11 + 64) == "ex.hint.params_k_not_squared"
    assert hint(ex, 64 * 3 * 11 * 11 + 1) == "ex.hint.params_one_bias"
    no_bias = make_exercise_from("conv_params", dict(c_in=3, c_out=64, k=11, bias=False))
    assert no_bias.answer == 23_232 and hint(no_bias, 23_296) == "ex.hint.params_no_bias"


def test_hints_of_a_pooling_cell():
    x = [[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]]  # the course's example
    ex = make_exercise_from("pool_cell", dict(input=x, size=2, stride=2, mode="max", row=1, col=0))
    assert ex.answer == 112
    assert hint(ex, (34 + 70 + 112 + 100) / 4) == "ex.hint.pool_averaged"
    assert hint(ex, 34) == "ex.hint.pool_min"
    assert hint(ex, 30) == "ex.hint.pool_swapped"  # the cell at row 0, column 1
    avg = make_exercise_from("pool_cell", dict(input=x, size=2, stride=2, mode="avg", row=0, col=0))
    assert avg.answer == 13 and hint(avg, 20) == "ex.hint.pool_took_max" and hint(avg, 52) == "ex.hint.pool_sum"
    overlap = make_exercise_from("pool_cell", dict(input=x, size=2, stride=1, mode="max", row=1, col=1))
    assert overlap.answer == 70 and hint(overlap, 37) == "ex.hint.pool_stride"  # the window at (2, 2)


def test_hints_of_the_slides_fc1():
    slide = dict(input_shape=[3, 210, 310], layers=[dict(filters=64, k=11, padding=0, pool=1),
                                                    dict(filters=128, k=5, padding=0, pool=1),
                                                    dict(filters=256, k=3, padding=0, pool=0)])
    ex = make_exercise_from("fc_inputs", slide)
    assert ex.answer == 256 * 46 * 71  # the slide's answer
    # without the second pooling: 200×300 -> 100×150 -> 96×146 -> 94×144
    assert hint(ex, 256 * 94 * 144) == "ex.hint.fc_forgot_pool"
    assert ex.diagnose(256 * 94 * 144).params == {"n": 2}
    assert hint(ex, 256 * (200 - 4 - 2) * (300 - 4 - 2)) == "ex.hint.fc_forgot_pools"
    assert hint(ex, 46 * 71) == "ex.hint.fc_forgot_channels"
    assert hint(ex, 256 * 44 * 69) == "ex.hint.fc_forgot_one"  # n − k at each conv: 210 → 199 → 99 → 94 → 47 → 44
    padded = dict(slide, layers=[dict(layer, padding=1) for layer in slide["layers"]])
    ex2 = make_exercise_from("fc_inputs", padded)
    assert hint(ex2, 256 * 46 * 71) == "ex.hint.fc_forgot_padding"


def test_hints_of_a_receptive_field():
    layers = [dict(k=3, stride=1, padding=1, dilation=1), dict(k=2, stride=2, padding=0, dilation=1),
              dict(k=3, stride=1, padding=1, dilation=1), dict(k=2, stride=2, padding=0, dilation=1),
              dict(k=3, stride=1, padding=1, dilation=2)]
    ex = make_exercise_from("receptive_field", dict(layers=layers))
    assert ex.answer == receptive_field_torch(layers) == 26
    assert hint(ex, 1 + 2 + 1 + 2 + 1 + 4) == "ex.hint.rf_forgot_stride"  # kernels added without the jumps
    assert hint(ex, 18) == "ex.hint.rf_forgot_dilation"
    assert hint(ex, 5) == "ex.hint.rf_last_only"
    assert hint(ex, 25) == "ex.hint.rf_forgot_one"


def test_every_exercise_has_a_solution_ending_in_its_answer():
    for kind in KINDS:
        for seed in range(20 if kind != "predict" else 3):
            ex = make_exercise(kind, seed)
            for lang in ("en", "fr"):
                steps = [tr(lang, m.id, **m.params) for m in ex.solution(lang)]
                assert steps and all("{" not in s and not s.startswith("ex.") for s in steps), steps
                if kind != "predict":
                    assert ex.answer_text(lang) in steps[-1]
                q = ex.question()
                assert not tr(lang, q.id, **q.params).startswith("ex.")
            wrong = ex.diagnose(-12345 if kind != "predict" else (ex.answer + 1) % 10)
            assert wrong is not None and not tr("fr", wrong.id, **wrong.params).startswith("ex.")


def test_solution_numbers_are_french_in_french():
    ex = make_exercise_from("pool_cell", dict(input=[[1, 2], [4, 3]], size=2, stride=2, mode="avg", row=0, col=0))
    text = " ".join(tr("fr", m.id, **m.params) for m in ex.solution("fr"))
    assert "2,5" in text and "Réponse\u00a0: **2,5**" in text
    big = make_exercise_from("conv_params", dict(c_in=128, c_out=256, k=3, bias=True))
    assert "295\u202f168" in tr("fr", big.solution("fr")[-1].id, **big.solution("fr")[-1].params)


# ---------------------------------------------------------------- typed answers

@pytest.mark.parametrize("lang, text, value", [
    ("fr", "0,5", 0.5), ("fr", "0.5", 0.5), ("fr", "-2,25", -2.25), ("fr", "1 234", 1234),
    ("fr", "1\u00a0234,5", 1234.5), ("fr", "1\u202f234", 1234), ("fr", "−3", -3), ("fr", " 7 ", 7),
    ("en", "0.5", 0.5), ("en", "1,234", 1234), ("en", "-2.25", -2.25), ("en", "12", 12), ("en", "+4", 4),
])
def test_typed_answers_in_the_readers_notation(lang, text, value):
    assert parse_answer(text, lang) == value


@pytest.mark.parametrize("text", ["", "   ", "abc", "nan", "inf", "-inf", "1e400", "0x10", "½", "1/2", "1,2,3",
                                  "<script>alert(1)</script>", "**3**", "=1+1", "1" * 41, "9" * 30, None])
def test_hostile_answers_are_refused_with_a_message(text):
    with pytest.raises(ExerciseError) as info:
        parse_answer(text, "en")
    assert info.value.code.startswith("ex.err.") and not info.value.message("fr").startswith("ex.")
    ex = make_exercise("conv_cell", 1)
    assert ex.check(text) is False and ex.diagnose(text) is not None


def test_english_refuses_a_decimal_comma_french_reads_it():
    with pytest.raises(ExerciseError):
        parse_answer("0,5", "en")
    ex = make_exercise_from("pool_cell", dict(input=[[1, 2], [4, 3]], size=2, stride=2, mode="avg", row=0, col=0))
    assert ex.check("2,5", lang="fr") and ex.check("2.5", lang="en") and not ex.check("2,5", lang="en")
    assert ex.check(2.5) and ex.check("2,50", lang="fr") and not ex.check("2,6", lang="fr")


def test_two_decimals_are_enough_but_whole_numbers_are_exact():
    ex = make_exercise_from("pool_cell", dict(input=[[1, 2, 0], [4, 3, 0], [1, 1, 1]], size=3, stride=1, mode="avg",
                                              row=0, col=0))
    assert ex.answer == pytest.approx(13 / 9)
    assert ex.check("1,44", "fr") and ex.check(1.444) and not ex.check(1.4) and not ex.check(1.46)
    size = make_exercise_from("conv_output_size", dict(n=5, k=3, stride=1, padding=0, dilation=1))
    assert size.check("3") and not size.check("3,001", "fr") and not size.check(3.004)


# ---------------------------------------------------------------- from given values, from a view

@pytest.mark.parametrize("kind, data", [
    ("conv_cell", dict(CONV, stride=0, padding=0, dilation=1, row=0, col=0)),
    ("conv_cell", dict(CONV, stride=1, padding=0, dilation=1, row=3, col=0)),  # 3×3 output
    ("conv_cell", dict(CONV, stride=1, padding=0, dilation=3, row=0, col=0)),  # the kernel does not fit
    ("conv_cell", dict(input=[[1, float("nan")]], kernel=[[1]], stride=1, padding=0, dilation=1, row=0, col=0)),
    ("conv_cell", dict(input="1 2\n3 4", kernel=[[1]], stride=1, padding=0, dilation=1, row=0, col=0)),
    ("conv_cell", dict(input=[[1] * 13] * 13, kernel=[[1]], stride=1, padding=0, dilation=1, row=0, col=0)),
    ("conv_cell", dict(input=[[1, 2], [3]], kernel=[[1]], stride=1, padding=0, dilation=1, row=0, col=0)),
    ("conv_output_size", dict(n=3, k=7, stride=1, padding=0, dilation=1)),
    ("conv_output_size", dict(n="32", k=3, stride=1, padding=0, dilation=1)),
    ("conv_params", dict(c_in=3, c_out=8, k=3, bias="yes")),
    ("conv_params", dict(c_in=True, c_out=8, k=3, bias=True)),
    ("pool_cell", dict(input=[[1, 2], [3, 4]], size=2, stride=2, mode="median", row=0, col=0)),
    ("pool_cell", dict(input=[[1, 2], [3, 4]], size=3, stride=1, mode="max", row=0, col=0)),
    ("fc_inputs", dict(input_shape=[1, 8, 8], layers=[dict(filters=4, k=9, padding=0, pool=0)])),  # collapses
    ("fc_inputs", dict(input_shape=[1, 8], layers=[dict(filters=4, k=3, padding=0, pool=0)])),
    ("fc_inputs", dict(input_shape=[1, 8, 8], layers=[])),
    ("receptive_field", dict(layers=[dict(k=0, stride=1, padding=0, dilation=1)])),
    ("receptive_field", dict(layers="3,3")),
    ("predict", dict(index=10**9)),
    ("nope", {}),
])
def test_bad_values_are_refused_with_an_error_a_reader_can_read(kind, data):
    with pytest.raises(CnnvizError) as info:
        make_exercise_from(kind, data)
    assert not info.value.message("fr").startswith("ex.")


def seed_view(screen: str) -> dict:
    from ui.screens import BY_ID

    return {f.name: f.default for f in BY_ID[screen].fields}


def test_exercises_about_the_default_views():
    conv = exercise_for_view("convolution", seed_view("convolution"), 0)
    assert conv.kind == "conv_cell" and conv.answer == 4 and (conv.data["row"], conv.data["col"]) == (0, 0)
    conv9 = exercise_for_view("convolution", dict(seed_view("convolution"), step=9, flip=True), 0)
    assert (conv9.data["row"], conv9.data["col"]) == (2, 2) and conv9.answer == 4  # the seed kernel is symmetric
    size = exercise_for_view("convolution", dict(seed_view("convolution"), padding=1, stride=2), 1)
    assert size.kind == "conv_output_size" and size.answer == 3
    pool = exercise_for_view("pooling", dict(seed_view("pooling"), step=3), 0)
    assert pool.kind == "pool_cell" and pool.answer == 112
    mc = exercise_for_view("multichannel", seed_view("multichannel"), 0)
    assert mc.kind == "conv_params" and mc.answer == 2 * 3 * 3 * 3 + 2  # the screen's 56
    arch = exercise_for_view("architecture", seed_view("architecture"), 0)
    assert arch.kind == "fc_inputs" and arch.answer == 836_096


def test_receptive_field_of_the_architecture_view_is_the_screens():
    from cnnviz.architecture import receptive_field, validate_layers
    from cnnviz.layers import parse_layers

    view = dict(seed_view("architecture"), preset="cifar", layers="32-3-1-1;64-5-2-1;128-3-1-0")
    config = validate_layers([(f, k, p, bool(pool)) for f, k, p, pool in parse_layers(view["layers"])], (3, 32, 32))
    for stage in ("conv1", "relu1", "pool1", "conv2", "pool2", "conv3", ""):
        ex = exercise_for_view("architecture", dict(view, rf_stage=stage), 1)
        assert ex.kind == "receptive_field"
        assert ex.answer == receptive_field(config, stage or "conv3", 3, 3).size, stage
    collapsed = dict(view, preset="fmnist", layers="8-15-0-1;8-15-0-1")  # fc1 has nothing left: ask the field
    assert exercise_for_view("architecture", collapsed, 0).kind == "receptive_field"


@pytest.mark.parametrize("screen, settings", [
    ("convolution", dict(input="1 2\n3 x", kernel="1")),
    ("convolution", dict(input="1 2\n3 4", kernel="1 1 1\n1 1 1\n1 1 1")),  # the kernel does not fit
    ("convolution", {}),
    ("pooling", dict(input="1 2\n3 4", size=3)),
    ("multichannel", dict(filters=2, f0="1", f1="1")),
    ("architecture", dict(preset="slide", layers="64-11-0-1;<b>")),
    ("home", {}),
    ("nowhere", {}),
])
def test_a_view_that_makes_no_exercise_gives_none(screen, settings):
    assert exercise_for_view(screen, settings, 0) is None


def test_the_registry_knows_the_kinds():
    from ui.screens import BY_ID

    screen = BY_ID["exercises"]
    assert screen.field("kind").choices is KINDS and screen.field("seed").hi == MAX_SEED
