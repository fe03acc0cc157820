"""Exercises: questions drawn from a seed (or from a screen's view) and checked by the app's own engines.

Every kind is generated at random from `seed` (same seed, same exercise) and its answer is computed by the
code the screens use — `cnnviz.ops.conv2d_steps` / `pool2d_steps`, the output-size formula, the architecture
tracer, the shipped network — never stored as text. A wrong answer is diagnosed by recomputing the exercise
with each typical mistake (forgot the padding, flipped the kernel, averaged instead of taking the max…): the
mistake that gives the reader's number names the step that went wrong. Then a worked solution with the numbers.

    ex = make_exercise("conv_cell", 17)        # .kind .seed .data (plain JSON values) .answer
    ex.check("0,5", lang="fr")                 # the reader's own notation, parsed with Babel
    ex.diagnose(4)                             # Msg("ex.hint.conv_forgot_padding", p=1), None when right
    ex.solution("fr")                          # [Msg(...), ...] the worked solution, step by step
    exercise_for_view("pooling", settings, 3)  # a question about what the Pooling screen shows now

Kinds (KINDS): conv_cell, conv_output_size, conv_params, pool_cell, fc_inputs, receptive_field, predict.
Messages are ids of locales/*/exercises.po (`Msg`), translated by the page.

    python -m cnnviz.exercises conv_cell 17    # prints the exercise, its answer and its solution in English
"""

from __future__ import annotations

import json
import math
import sys
import zlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import numpy as np

from cnnviz import CnnvizError
from cnnviz.geometry import extent, output_size, receptive_field
from cnnviz.i18n import Msg, normalize, tr
from cnnviz.multichannel import number_text, products_text
from cnnviz.ops import POOL_MODES, conv2d_steps, pool2d_steps

KINDS = ("conv_cell", "conv_output_size", "conv_params", "pool_cell", "fc_inputs", "receptive_field", "predict")
MAX_SEED = 999_999
MAX_ANSWER_CHARS = 40  # a typed answer longer than this is not a number anyone means
DECIMALS_TOLERANCE = 0.005  # a non-integer answer is right to two decimals


class ExerciseError(CnnvizError, ValueError):
    """An exercise that cannot be made (unknown kind, data out of range) or an answer that is not a number."""


# ---------------------------------------------------------------- the exercise object

@dataclass(frozen=True)
class Exercise:
    """One question: its kind, the seed it came from (None when built from a view), its data and its answer."""

    kind: str
    seed: int | None
    data: dict
    answer: int | float
    mistakes: tuple = field(default=(), repr=False, compare=False)  # (hint Msg, the value that mistake gives)

    def value_of(self, value, lang: str = "en") -> float | None:
        """A typed answer (text in the reader's notation, or a number) -> float, None when it is not a number."""
        if self.kind == "predict":
            return _class_index(value, self.data["classes"])
        try:
            return parse_answer(value, lang) if isinstance(value, str) else _finite(value)
        except ExerciseError:
            return None

    def check(self, value, lang: str = "en") -> bool:
        """True when `value` (a number, or text as the reader types it in `lang`) is the answer."""
        v = self.value_of(value, lang)
        return v is not None and _close(v, self.answer)

    def diagnose(self, value, lang: str = "en") -> Msg | None:
        """None for a right answer; else the hint of the first typical mistake that gives `value` (recomputed
        with that mistake), or the kind's general hint."""
        v = self.value_of(value, lang)
        if v is not None and _close(v, self.answer):
            return None
        if v is not None:
            for hint, wrong in self.mistakes:
                if not _close(wrong, self.answer) and _close(v, wrong):
                    return hint
        return _GENERAL_HINT[self.kind]

    def question(self) -> Msg:
        return _KINDS[self.kind].question(self.data)

    def solution(self, lang: str = "en") -> list[Msg]:
        """The worked solution, one message per step, with the real numbers (written the `lang` way)."""
        return _KINDS[self.kind].solution(self.data, self.answer, normalize(lang) or "en")

    def answer_text(self, lang: str = "en") -> str:
        if self.kind == "predict":
            return str(self.data["classes"][int(self.answer)])
        return number_text(normalize(lang) or "en", self.answer)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "seed": self.seed, "data": self.data, "answer": self.answer})


def make_exercise(kind: str, seed: int) -> Exercise:
    """The exercise of `kind` drawn from `seed` (0..MAX_SEED): same seed, same exercise."""
    impl = _KINDS.get(kind) if isinstance(kind, str) else None
    if impl is None:
        raise ExerciseError("ex.err.unknown_kind", kind=str(kind)[:40], kinds=", ".join(KINDS))
    seed = _whole(seed, "seed", 0, MAX_SEED)
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])
    return _build(kind, seed, impl.generate(rng))


def make_exercise_from(kind: str, data: dict) -> Exercise:
    """The exercise of `kind` on given values (a view's own): every value checked, ExerciseError (or the
    engine's ShapeError) naming what does not fit."""
    impl = _KINDS.get(kind) if isinstance(kind, str) else None
    if impl is None:
        raise ExerciseError("ex.err.unknown_kind", kind=str(kind)[:40], kinds=", ".join(KINDS))
    if not isinstance(data, dict):
        raise ExerciseError("ex.err.bad_data", kind=kind)
    return _build(kind, None, impl.validate(data))


def _build(kind: str, seed: int | None, data: dict) -> Exercise:
    impl = _KINDS[kind]
    answer = impl.answer(data)
    return Exercise(kind, seed, data, answer, tuple(impl.mistakes(data, answer)))


# ---------------------------------------------------------------- typed answers

def parse_answer(text, lang: str = "en") -> float:
    """A typed number in the reader's notation -> float, parsed by Babel for `lang` ("0,5" and "1 234" in
    French, "0.5" and "1,234" in English; a French reader's "0.5" is read too). ExerciseError otherwise."""
    from babel.numbers import NumberFormatError, parse_decimal

    lang = normalize(lang) or "en"
    raw = str(text) if text is not None else ""
    if len(raw) > MAX_ANSWER_CHARS:
        raise ExerciseError("ex.err.too_long", n=MAX_ANSWER_CHARS)
    cleaned = raw.strip().replace("\u2212", "-").replace("\u2013", "-")  # a typographic minus
    if not cleaned:
        raise ExerciseError("ex.err.empty")
    if lang == "fr":  # a French reader groups thousands with a plain or non-breaking space; Babel wants U+202F
        cleaned = cleaned.replace(" ", "\u202f").replace("\u00a0", "\u202f")
    try:
        value = parse_decimal(cleaned, locale=lang, strict=True)
    except (NumberFormatError, InvalidOperation, ValueError):
        raise ExerciseError("ex.err.not_a_number", text=raw.strip()[:MAX_ANSWER_CHARS]) from None
    if not value.is_finite() or abs(value) > Decimal(10) ** 15:
        raise ExerciseError("ex.err.not_a_number", text=raw.strip()[:MAX_ANSWER_CHARS])
    return float(value)


def _finite(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def _close(value: float, answer: float) -> bool:
    """Integers must be exact; other answers are right to two decimals."""
    if float(answer).is_integer():
        return abs(value - answer) < 1e-9
    return abs(value - answer) <= DECIMALS_TOLERANCE + 1e-12


def _class_index(value, classes) -> int | None:
    if isinstance(value, str):
        if value in classes:
            return classes.index(value)
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
    if isinstance(value, bool):
        return None
    try:
        i = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return i if 0 <= i < len(classes) and float(value) == i else None


def _number(v) -> int | float:
    """An engine's number as a plain Python int when it is whole, else a float."""
    v = float(v)
    if abs(v) < 1e-9:
        return 0
    return int(round(v)) if abs(v - round(v)) < 1e-9 else v


# ---------------------------------------------------------------- checking data

def _whole(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ExerciseError("ex.err.not_whole", field=name, value=repr(value)[:20])
    if not (math.isfinite(float(value)) and float(value).is_integer()):
        raise ExerciseError("ex.err.not_whole", field=name, value=repr(value)[:20])
    v = int(value)
    if not lo <= v <= hi:
        raise ExerciseError("ex.err.out_of_range", field=name, value=v, lo=lo, hi=hi)
    return v


def _grid(value, name: str, max_size: int) -> list[list[int | float]]:
    """A list of rows of numbers, each row as long, at most max_size × max_size, finite and not huge."""
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(r, (list, tuple)) for r in value):
        raise ExerciseError("ex.err.bad_grid", field=name)
    if len(value) > max_size or len({len(r) for r in value}) != 1 or not 1 <= len(value[0]) <= max_size:
        raise ExerciseError("ex.err.bad_grid", field=name)
    rows = []
    for row in value:
        out = []
        for v in row:
            f = _finite(v)
            if f is None or abs(f) > 1e6:
                raise ExerciseError("ex.err.bad_grid", field=name)
            out.append(_number(f))
        rows.append(out)
    return rows


def _cell(data: dict, shape: tuple[int, int]) -> tuple[int, int]:
    row, col = _whole(data.get("row"), "row", 0, 4095), _whole(data.get("col"), "col", 0, 4095)
    if row >= shape[0] or col >= shape[1]:
        raise ExerciseError("ex.err.cell_outside", row=row, col=col, h=shape[0], w=shape[1])
    return row, col


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


# ---------------------------------------------------------------- the kinds

class _Kind:
    """One kind: draw data from a generator, check given data, answer, typical mistakes, worked solution."""

    def generate(self, rng) -> dict: ...
    def validate(self, data: dict) -> dict: ...
    def answer(self, data: dict) -> int | float: ...
    def mistakes(self, data: dict, answer) -> list[tuple[Msg, float]]: ...
    def question(self, data: dict) -> Msg: ...
    def solution(self, data: dict, answer, lang: str) -> list[Msg]: ...


def _conv_trace(data: dict, **changes):
    d = {**data, **changes}
    return conv2d_steps(np.array(d["input"]), np.array(d["kernel"]), d["stride"], d["padding"], d["dilation"])


def _conv_cell_value(data: dict, row: int, col: int, **changes) -> float | None:
    """The output cell (row, col) computed with some settings changed (a mistake), None if it does not exist."""
    try:
        trace = _conv_trace(data, **changes)
    except CnnvizError:
        return None
    ho, wo = trace.output.shape
    return float(trace.output[row, col]) if 0 <= row < ho and 0 <= col < wo else None


class ConvCell(_Kind):
    def generate(self, rng) -> dict:
        while True:
            h = int(rng.integers(4, 8))
            w = h if rng.random() < 0.7 else int(rng.integers(4, 8))
            k = _pick(rng, [2, 3, 3, 3])
            stride, dilation = _pick(rng, [1, 1, 2]), _pick(rng, [1, 1, 1, 2])
            padding = min(_pick(rng, [0, 0, 1, 1, 2]), k - 1)  # a wider border would give windows of zeros only
            ext = extent(k, dilation)
            if ext > min(h, w) + 2 * padding:
                continue
            ho, wo = output_size(h, k, stride, padding, dilation), output_size(w, k, stride, padding, dilation)
            if min(ho, wo) >= 2:
                break
        image = rng.integers(0, 4, size=(h, w))
        kernel = (rng.choice([-1, -0.5, 0, 0.5, 1], size=(k, k)) if rng.random() < 0.25
                  else rng.integers(-1, 3, size=(k, k)))
        cells = [(i, j) for i in range(ho) for j in range(wo)]
        if padding and rng.random() < 0.6:  # most often a cell whose window reaches into the zero border
            cells = [(i, j) for i, j in cells if i * stride < padding or j * stride < padding
                     or i * stride + ext > h + padding or j * stride + ext > w + padding] or cells
        row, col = cells[int(rng.integers(len(cells)))]
        return dict(input=[[_number(v) for v in r] for r in image], kernel=[[_number(v) for v in r] for r in kernel],
                    stride=stride, padding=padding, dilation=dilation, row=row, col=col)

    def validate(self, data: dict) -> dict:
        d = dict(input=_grid(data.get("input"), "input", 12), kernel=_grid(data.get("kernel"), "kernel", 7),
                 stride=_whole(data.get("stride"), "stride", 1, 8), padding=_whole(data.get("padding"), "padding", 0, 8),
                 dilation=_whole(data.get("dilation"), "dilation", 1, 8))
        trace = _conv_trace(d)  # ShapeError when the kernel does not fit the padded input
        d["row"], d["col"] = _cell(data, trace.output.shape)
        return d

    def answer(self, data: dict):
        trace = _conv_trace(data)
        return _number(trace.output[data["row"], data["col"]])

    def mistakes(self, data: dict, answer):
        row, col, s, p, dil = data["row"], data["col"], data["stride"], data["padding"], data["dilation"]
        out = []

        def add(hint: Msg, value):
            if value is not None:
                out.append((hint, float(value)))

        if p:
            add(Msg("ex.hint.conv_forgot_padding", p=p), _conv_cell_value(data, row, col, padding=0))
        if dil > 1:
            add(Msg("ex.hint.conv_forgot_dilation", d=dil), _conv_cell_value(data, row, col, dilation=1))
        if s > 1:
            add(Msg("ex.hint.conv_forgot_stride", s=s), _conv_cell_value(data, row, col, stride=1))
        flipped = [r[::-1] for r in data["kernel"][::-1]]
        if flipped != data["kernel"]:
            add(Msg("ex.hint.conv_flipped"), _conv_cell_value(data, row, col, kernel=flipped))
        if row != col:
            add(Msg("ex.hint.conv_swapped", row=row, col=col), _conv_cell_value(data, col, row))
        trace = _conv_trace(data)
        add(Msg("ex.hint.conv_sum_window"), trace.steps[row * trace.output.shape[1] + col].window.sum())
        return out

    def question(self, data: dict) -> Msg:
        msg_id = "ex.q.conv_cell" if data["padding"] == 0 and data["dilation"] == 1 else "ex.q.conv_cell_more"
        return Msg(msg_id, row=data["row"], col=data["col"], s=data["stride"], p=data["padding"],
                   d=data["dilation"])

    def solution(self, data: dict, answer, lang: str):
        trace = _conv_trace(data)
        row, col, s, p, d = data["row"], data["col"], data["stride"], data["padding"], data["dilation"]
        step = trace.steps[row * trace.output.shape[1] + col]
        h, w = trace.padded.shape
        steps = []
        if p:
            steps.append(Msg("ex.sol.conv_pad", p=p, h=h, w=w))
        rows = ", ".join(str(int(r)) for r in step.rows)
        cols = ", ".join(str(int(c)) for c in step.cols)
        steps.append(Msg("ex.sol.conv_window", row=row, col=col, s=s, r0=step.row, c0=step.col, rows=rows, cols=cols))
        if d > 1:
            steps.append(Msg("ex.sol.conv_dilation", d=d))
        steps.append(Msg("ex.sol.conv_products", products=products_text(lang, step.window, trace.kernel, step.value)))
        steps.append(Msg("ex.sol.answer", value=number_text(lang, answer)))
        return steps


class ConvOutputSize(_Kind):
    def generate(self, rng) -> dict:
        while True:
            if rng.random() < 0.6:  # small enough to open on the Convolution screen
                n, k = int(rng.integers(5, 13)), _pick(rng, [1, 2, 3, 3, 4, 5])
                s, p, d = _pick(rng, [1, 1, 2, 3]), _pick(rng, [0, 0, 1, 2]), _pick(rng, [1, 1, 1, 2])
            else:  # the sizes of real images
                n, k = _pick(rng, [28, 32, 64, 96, 128, 210, 224, 227, 310]), _pick(rng, [1, 3, 3, 5, 7, 11])
                s, p, d = _pick(rng, [1, 1, 2, 2, 4]), _pick(rng, [0, 0, 1, 2, 3]), _pick(rng, [1, 1, 1, 2])
            if output_size(n, k, s, p, d) >= 1:
                return dict(n=n, k=k, stride=s, padding=p, dilation=d)

    def validate(self, data: dict) -> dict:
        d = dict(n=_whole(data.get("n"), "n", 1, 4096), k=_whole(data.get("k"), "k", 1, 64),
                 stride=_whole(data.get("stride"), "stride", 1, 64), padding=_whole(data.get("padding"), "padding", 0, 64),
                 dilation=_whole(data.get("dilation"), "dilation", 1, 16))
        if output_size(d["n"], d["k"], d["stride"], d["padding"], d["dilation"]) < 1:
            raise ExerciseError("ex.err.no_output", **d)
        return d

    def answer(self, data: dict):
        return output_size(data["n"], data["k"], data["stride"], data["padding"], data["dilation"])

    def mistakes(self, data: dict, answer):
        n, k, s, p, d = data["n"], data["k"], data["stride"], data["padding"], data["dilation"]
        inner = n + 2 * p - d * (k - 1) - 1
        out = []
        if p:
            out.append((Msg("ex.hint.size_forgot_padding", p=p), output_size(n, k, s, 0, d)))
            out.append((Msg("ex.hint.size_padding_once", p=p), (n + p - d * (k - 1) - 1) // s + 1))
        if d > 1:
            out.append((Msg("ex.hint.size_forgot_dilation", d=d), output_size(n, k, s, p, 1)))
        if s > 1:
            out.append((Msg("ex.hint.size_forgot_stride", s=s), output_size(n, k, 1, p, d)))
            if inner % s:
                out.append((Msg("ex.hint.size_ceil"), -(-inner // s) + 1))
                out.append((Msg("ex.hint.size_no_floor"), inner / s + 1))
        out.append((Msg("ex.hint.size_forgot_one"), answer - 1))
        out.append((Msg("ex.hint.size_forgot_minus_one"), (inner + 1) // s + 1))
        out.append((Msg("ex.hint.size_off_by_one"), answer + 1))
        return out

    def question(self, data: dict) -> Msg:
        return Msg("ex.q.conv_output_size", n=data["n"], k=data["k"], s=data["stride"], p=data["padding"],
                   d=data["dilation"])

    def solution(self, data: dict, answer, lang: str):
        n, k, s, p, d = data["n"], data["k"], data["stride"], data["padding"], data["dilation"]
        inner = n + 2 * p - d * (k - 1) - 1
        return [Msg("ex.sol.size_formula"),
                Msg("ex.sol.size_numbers", n=n, k=k, s=s, p=p, d=d, inner=inner, q=inner // s, out=answer),
                Msg("ex.sol.size_extent", ext=extent(k, d), k=k, d=d, s=s, padded=n + 2 * p),
                Msg("ex.sol.answer", value=number_text(lang, answer))]


class ConvParams(_Kind):
    def generate(self, rng) -> dict:
        return dict(c_in=_pick(rng, [1, 3, 3, 16, 32, 64, 128]), c_out=_pick(rng, [4, 6, 8, 16, 32, 64, 128, 256]),
                    k=_pick(rng, [1, 3, 3, 5, 7, 11]), bias=bool(rng.random() < 0.8))

    def validate(self, data: dict) -> dict:
        bias = data.get("bias")
        if bias not in (True, False, 0, 1) or isinstance(bias, float):
            raise ExerciseError("ex.err.not_bool", field="bias")
        return dict(c_in=_whole(data.get("c_in"), "c_in", 1, 4096), c_out=_whole(data.get("c_out"), "c_out", 1, 4096),
                    k=_whole(data.get("k"), "k", 1, 64), bias=bool(bias))

    def answer(self, data: dict):
        import torch
        from torch import nn

        from cnnviz.models import trace_stage

        with torch.device("meta"):  # the architecture tracer's own count, with no memory for the weights
            conv = nn.Conv2d(data["c_in"], data["c_out"], data["k"], bias=data["bias"])
        k = data["k"]
        return int(trace_stage("conv", conv, (data["c_in"], k, k)).params)

    def mistakes(self, data: dict, answer):
        c, f, k, b = data["c_in"], data["c_out"], data["k"], data["bias"]
        weights, bias = f * c * k * k, f if b else 0
        out = [(Msg("ex.hint.params_forgot_bias", f=f), weights) if b else
               (Msg("ex.hint.params_no_bias"), weights + f),
               (Msg("ex.hint.params_forgot_c_in", c=c), f * k * k + bias),
               (Msg("ex.hint.params_k_not_squared", k=k), f * c * k + bias),
               (Msg("ex.hint.params_forgot_c_out", f=f), c * k * k + bias)]
        if b:
            out.append((Msg("ex.hint.params_one_bias", f=f), weights + 1))
        return out

    def question(self, data: dict) -> Msg:
        return Msg("ex.q.conv_params_bias" if data["bias"] else "ex.q.conv_params", c=data["c_in"], f=data["c_out"],
                   k=data["k"])

    def solution(self, data: dict, answer, lang: str):
        c, f, k, b = data["c_in"], data["c_out"], data["k"], data["bias"]
        steps = [Msg("ex.sol.params_kernel", c=c, k=k, per=c * k * k),
                 Msg("ex.sol.params_filters", f=f, per=c * k * k, weights=f * c * k * k)]
        steps.append(Msg("ex.sol.params_bias", f=f, weights=f * c * k * k, total=answer) if b
                     else Msg("ex.sol.params_no_bias"))
        steps.append(Msg("ex.sol.answer", value=number_text(lang, answer)))
        return steps


def _pool_trace(data: dict, **changes):
    d = {**data, **changes}
    return pool2d_steps(np.array(d["input"]), d["size"], d["stride"], d["mode"])


class PoolCell(_Kind):
    def generate(self, rng) -> dict:
        h = int(rng.integers(4, 9))
        w = h if rng.random() < 0.7 else int(rng.integers(4, 9))
        size = _pick(rng, [2, 2, 2, 3])
        stride = size if rng.random() < 0.6 else _pick(rng, [1, 2] if size == 3 else [1])
        mode = _pick(rng, ["max", "avg"])
        x = rng.integers(0, 21, size=(h, w))
        trace = pool2d_steps(x, size, stride, mode)
        row, col = int(rng.integers(trace.output.shape[0])), int(rng.integers(trace.output.shape[1]))
        return dict(input=[[int(v) for v in r] for r in x], size=size, stride=stride, mode=mode, row=row, col=col)

    def validate(self, data: dict) -> dict:
        mode = data.get("mode")
        if mode not in POOL_MODES:
            raise ExerciseError("ex.err.bad_mode", mode=str(mode)[:20])
        d = dict(input=_grid(data.get("input"), "input", 12), size=_whole(data.get("size"), "size", 1, 6),
                 stride=_whole(data.get("stride"), "stride", 1, 8), mode=mode)
        trace = _pool_trace(d)  # ShapeError when the window is larger than the input
        d["row"], d["col"] = _cell(data, trace.output.shape)
        return d

    def answer(self, data: dict):
        trace = _pool_trace(data)
        return _number(trace.output[data["row"], data["col"]])

    def mistakes(self, data: dict, answer):
        trace = _pool_trace(data)
        row, col, size, stride = data["row"], data["col"], data["size"], data["stride"]
        window = trace.steps[row * trace.output.shape[1] + col].window
        out = []
        if data["mode"] == "max":
            out.append((Msg("ex.hint.pool_averaged"), window.mean()))
            out.append((Msg("ex.hint.pool_min"), window.min()))
        else:
            out.append((Msg("ex.hint.pool_took_max"), window.max()))
            out.append((Msg("ex.hint.pool_sum", n=window.size), window.sum()))
        x = np.array(data["input"])
        if stride != size and (row * size + size <= x.shape[0]) and (col * size + size <= x.shape[1]):
            other = x[row * size:row * size + size, col * size:col * size + size]
            out.append((Msg("ex.hint.pool_stride", s=stride, size=size),
                        other.max() if data["mode"] == "max" else other.mean()))
        if row != col and col < trace.output.shape[0] and row < trace.output.shape[1]:
            out.append((Msg("ex.hint.pool_swapped", row=row, col=col), trace.output[col, row]))
        return [(m, float(v)) for m, v in out]

    def question(self, data: dict) -> Msg:
        return Msg("ex.q.pool_max" if data["mode"] == "max" else "ex.q.pool_avg", row=data["row"], col=data["col"],
                   size=data["size"], s=data["stride"])

    def solution(self, data: dict, answer, lang: str):
        trace = _pool_trace(data)
        row, col = data["row"], data["col"]
        step = trace.steps[row * trace.output.shape[1] + col]
        n = data["size"]
        values = ", ".join(number_text(lang, v) for v in step.window.ravel())
        steps = [Msg("ex.sol.pool_window", row=row, col=col, s=data["stride"], r0=step.row, r1=step.row + n - 1,
                     c0=step.col, c1=step.col + n - 1)]
        if data["mode"] == "max":
            steps.append(Msg("ex.sol.pool_max", values=values, value=number_text(lang, answer)))
        else:
            steps.append(Msg("ex.sol.pool_avg", values=values.replace(", ", " + "), n=step.window.size,
                             total=number_text(lang, step.window.sum()), value=number_text(lang, answer)))
        steps.append(Msg("ex.sol.answer", value=number_text(lang, answer)))
        return steps


FC_SHAPES = ((1, 28, 28), (3, 32, 32), (3, 210, 310), (3, 64, 64), (1, 64, 64), (3, 96, 96), (3, 128, 128),
             (3, 224, 224))


def fc_config(data: dict):
    """The fc_inputs exercise's network as a cnnviz.models.ConvNetConfig (checked by validate_layers)."""
    from cnnviz.architecture import validate_layers

    rows = [dict(out_channels=r["filters"], kernel=r["k"], padding=r["padding"], pool=bool(r["pool"]))
            for r in data["layers"]]
    return validate_layers(rows, tuple(data["input_shape"]))


def _fc_trace(data: dict):
    from cnnviz.architecture import trace_config

    return trace_config(fc_config(data))


def _fc_by_hand(data: dict, conv=None, pool=None, skip_pool: int | None = None) -> int | None:
    """fc1's input recomputed by hand with a mistake: `conv(n, k, p)` and `pool(n)` replace the right sizes,
    `skip_pool` drops one layer's pooling (1-based). None when the shape collapses."""
    conv = conv or (lambda n, k, p: output_size(n, k, 1, p))
    pool = pool or (lambda n: n // 2)
    c, h, w = data["input_shape"]
    for i, layer in enumerate(data["layers"], start=1):
        c, h, w = layer["filters"], conv(h, layer["k"], layer["padding"]), conv(w, layer["k"], layer["padding"])
        if layer["pool"] and i != skip_pool:
            h, w = pool(h), pool(w)
        if h < 1 or w < 1:
            return None
    return c * h * w


class FcInputs(_Kind):
    def generate(self, rng) -> dict:
        while True:
            shape = list(_pick(rng, FC_SHAPES))
            layers = []
            for _ in range(int(rng.integers(2, 5))):
                k = _pick(rng, [3, 3, 5, 5, 7, 11] if shape[1] > 100 else [3, 3, 3, 5])
                layers.append(dict(filters=_pick(rng, [6, 8, 16, 32, 64, 128, 256]), k=k,
                                   padding=_pick(rng, [0, 0, k // 2]), pool=_pick(rng, [0, 1, 1])))
            data = dict(input_shape=shape, layers=layers)
            if sum(layer["pool"] for layer in layers) and _fc_trace(data).fc1_in is not None:
                return data

    def validate(self, data: dict) -> dict:
        shape, layers = data.get("input_shape"), data.get("layers")
        if not isinstance(shape, (list, tuple)) or len(shape) != 3:
            raise ExerciseError("ex.err.bad_shape")
        if not isinstance(layers, (list, tuple)) or not layers or not all(isinstance(r, dict) for r in layers):
            raise ExerciseError("ex.err.bad_layers")
        d = dict(input_shape=[_whole(shape[0], "c", 1, 64), _whole(shape[1], "h", 1, 4096),
                              _whole(shape[2], "w", 1, 4096)],
                 layers=[dict(filters=_whole(r.get("filters"), "filters", 1, 1024), k=_whole(r.get("k"), "k", 1, 15),
                              padding=_whole(r.get("padding", 0), "padding", 0, 8),
                              pool=_whole(int(r["pool"]) if isinstance(r.get("pool"), bool) else r.get("pool", 0),
                                          "pool", 0, 1)) for r in layers[:16]])
        if len(layers) > 16:
            raise ExerciseError("ex.err.bad_layers")
        trace = _fc_trace(d)
        if trace.fc1_in is None:
            raise trace.exception or ExerciseError("ex.err.bad_layers")
        return d

    def answer(self, data: dict):
        return int(_fc_trace(data).fc1_in)

    def mistakes(self, data: dict, answer):
        c, h, w = data["input_shape"]
        out = []
        pooled = [i for i, layer in enumerate(data["layers"], start=1) if layer["pool"]]
        for i in pooled:
            out.append((Msg("ex.hint.fc_forgot_pool", n=i), _fc_by_hand(data, skip_pool=i)))
        if len(pooled) > 1:
            out.append((Msg("ex.hint.fc_forgot_pools"), _fc_by_hand(data, pool=lambda n: n)))
        if any(layer["padding"] for layer in data["layers"]):
            out.append((Msg("ex.hint.fc_forgot_padding"), _fc_by_hand(data, conv=lambda n, k, p: n - k + 1)))
        out.append((Msg("ex.hint.fc_forgot_one"), _fc_by_hand(data, conv=lambda n, k, p: n + 2 * p - k)))
        out.append((Msg("ex.hint.fc_ceil_pool"), _fc_by_hand(data, pool=lambda n: -(-n // 2))))
        trace = _fc_trace(data)
        last_c, last_h, last_w = trace.last_shape
        out.append((Msg("ex.hint.fc_forgot_channels", c=last_c), last_h * last_w))
        out.append((Msg("ex.hint.fc_input_channels", c=c), c * last_h * last_w))
        return [(m, float(v)) for m, v in out if v is not None]

    def question(self, data: dict) -> Msg:
        c, h, w = data["input_shape"]
        return Msg("ex.q.fc_inputs", c=c, h=h, w=w)

    def solution(self, data: dict, answer, lang: str):
        trace = _fc_trace(data)
        steps = [Msg("ex.sol.fc_rule")]
        for r in trace.rows:
            if r.kind == "Conv2d":
                st = r.settings
                steps.append(Msg("ex.sol.fc_conv", name=r.name, k=st["kernel"], p=st["padding"],
                                 c0=r.in_shape[0], h0=r.in_shape[1], w0=r.in_shape[2],
                                 c1=r.out_shape[0], h1=r.out_shape[1], w1=r.out_shape[2]))
            elif r.kind == "MaxPool2d":
                steps.append(Msg("ex.sol.fc_pool", name=r.name, h0=r.in_shape[1], w0=r.in_shape[2],
                                 h1=r.out_shape[1], w1=r.out_shape[2]))
        c, h, w = trace.last_shape
        steps.append(Msg("ex.sol.fc_flatten", c=c, h=h, w=w, n=answer))
        steps.append(Msg("ex.sol.answer", value=number_text(lang, answer)))
        return steps


def receptive_side(layers: list[dict]) -> int:
    """Side, in input pixels, of the receptive field of one unit after `layers` (from the input up), each
    {k, stride, padding, dilation}: cnnviz.geometry.receptive_field, as on the Architecture screen (padding moves
    the field, it does not change its size)."""
    return receptive_field([(v["k"], v["stride"], v["padding"], v["dilation"]) for v in layers]).size


class ReceptiveField(_Kind):
    def generate(self, rng) -> dict:
        layers = []
        if rng.random() < 0.5:  # conv blocks and 2×2 max-poolings, as on the Architecture screen
            for _ in range(int(rng.integers(1, 4))):
                k = _pick(rng, [3, 3, 5])
                layers.append(dict(k=k, stride=1, padding=_pick(rng, [0, k // 2]), dilation=1))
                if rng.random() < 0.7:
                    layers.append(dict(k=2, stride=2, padding=0, dilation=1))
        else:
            for _ in range(int(rng.integers(2, 5))):
                k = _pick(rng, [1, 2, 3, 3, 5, 7])
                layers.append(dict(k=k, stride=_pick(rng, [1, 1, 2]), padding=_pick(rng, [0, k // 2]),
                                   dilation=_pick(rng, [1, 1, 2]) if k > 1 else 1))
        if len(layers) < 2:
            layers.append(dict(k=3, stride=1, padding=1, dilation=1))
        return dict(layers=layers)

    def validate(self, data: dict) -> dict:
        layers = data.get("layers")
        if not isinstance(layers, (list, tuple)) or not 1 <= len(layers) <= 16 or not all(isinstance(r, dict)
                                                                                         for r in layers):
            raise ExerciseError("ex.err.bad_layers")
        return dict(layers=[dict(k=_whole(r.get("k"), "k", 1, 64), stride=_whole(r.get("stride", 1), "stride", 1, 16),
                                 padding=_whole(r.get("padding", 0), "padding", 0, 64),
                                 dilation=_whole(r.get("dilation", 1), "dilation", 1, 16)) for r in layers])

    def answer(self, data: dict):
        return receptive_side(data["layers"])

    def mistakes(self, data: dict, answer):
        layers = data["layers"]
        no_stride = [dict(r, stride=1) for r in layers]
        no_dilation = [dict(r, dilation=1) for r in layers]
        out = []
        if any(r["stride"] > 1 for r in layers[:-1]):
            out.append((Msg("ex.hint.rf_forgot_stride"), receptive_side(no_stride)))
        if any(r["dilation"] > 1 for r in layers):
            out.append((Msg("ex.hint.rf_forgot_dilation"), receptive_side(no_dilation)))
        if any(r["padding"] for r in layers):
            jump, extra = 1, 0
            for r in layers:
                extra += 2 * r["padding"] * jump
                jump *= r["stride"]
            out.append((Msg("ex.hint.rf_padding"), answer + extra))
        last = layers[-1]
        out.append((Msg("ex.hint.rf_last_only"), last["dilation"] * (last["k"] - 1) + 1))
        out.append((Msg("ex.hint.rf_product"), math.prod(r["k"] for r in layers)))
        out.append((Msg("ex.hint.rf_forgot_one"), answer - 1))
        return [(m, float(v)) for m, v in out]

    def question(self, data: dict) -> Msg:
        return Msg("ex.q.receptive_field", n=len(data["layers"]))

    def solution(self, data: dict, answer, lang: str):
        steps = [Msg("ex.sol.rf_rule")]
        r = 1
        for i in range(len(data["layers"]), 0, -1):
            layer = data["layers"][i - 1]
            new = (r - 1) * layer["stride"] + layer["dilation"] * (layer["k"] - 1) + 1
            steps.append(Msg("ex.sol.rf_layer", n=i, r=r, s=layer["stride"], d=layer["dilation"], k=layer["k"], new=new))
            r = new
        steps.append(Msg("ex.sol.rf_padding"))
        steps.append(Msg("ex.sol.answer", value=number_text(lang, answer)))
        return steps


@lru_cache(maxsize=1)
def _shipped():
    """The shipped network (model, meta), loaded once per process (read-only: eval mode, no gradients)."""
    from cnnviz.checkpoints import SHIPPED, load_checkpoint

    return load_checkpoint(SHIPPED)


def predict_images():
    """Fashion-MNIST's test split when it is installed, else the sample shipped in checkpoints/."""
    from cnnviz.data import images_to_browse

    return images_to_browse("fashion-mnist")


@dataclass(frozen=True)
class Prediction:
    probs: np.ndarray  # (classes,) softmax of the shipped network, read-only
    pred: int


@lru_cache(maxsize=1024)
def prediction(index: int) -> Prediction:
    """The shipped network on test image `index`: its probabilities and its predicted class (kept: 40 bytes)."""
    import torch

    from cnnviz.data import to_tensor

    model, _ = _shipped()
    with torch.inference_mode():
        probs = torch.softmax(model(to_tensor(predict_images().images[index][None]))[0], 0).numpy()
    probs.flags.writeable = False
    return Prediction(probs, int(probs.argmax()))


class Predict(_Kind):
    def generate(self, rng) -> dict:
        ds = predict_images()
        index = int(rng.integers(len(ds)))
        return dict(dataset="fashion-mnist", index=index, classes=list(ds.classes), label=int(ds.labels[index]))

    def validate(self, data: dict) -> dict:
        ds = predict_images()
        if data.get("dataset", "fashion-mnist") != "fashion-mnist":
            raise ExerciseError("ex.err.bad_data", kind="predict")
        index = _whole(data.get("index"), "index", 0, len(ds) - 1)
        return dict(dataset="fashion-mnist", index=index, classes=list(ds.classes), label=int(ds.labels[index]))

    def answer(self, data: dict):
        return int(prediction(data["index"]).pred)

    def mistakes(self, data: dict, answer):
        probs = prediction(data["index"]).probs
        out = []
        if data["label"] != answer:
            out.append((Msg("ex.hint.predict_true_label", p=float(probs[data["label"]])), float(data["label"])))
        for i in np.argsort(-probs):
            if i != answer and i != data["label"]:
                out.append((Msg("ex.hint.predict_other", p=float(probs[i])), float(i)))
        return out

    def question(self, data: dict) -> Msg:
        return Msg("ex.q.predict")

    def solution(self, data: dict, answer, lang: str):
        probs = prediction(data["index"]).probs
        classes = data["classes"]
        steps = [Msg("ex.sol.predict", cls=classes[answer], p=float(probs[answer]))]
        steps.append(Msg("ex.sol.predict_right" if data["label"] == answer else "ex.sol.predict_wrong",
                         cls=classes[data["label"]], p=float(probs[data["label"]])))
        return steps


_KINDS: dict[str, _Kind] = {"conv_cell": ConvCell(), "conv_output_size": ConvOutputSize(), "conv_params": ConvParams(),
                            "pool_cell": PoolCell(), "fc_inputs": FcInputs(), "receptive_field": ReceptiveField(),
                            "predict": Predict()}
_GENERAL_HINT = {"conv_cell": Msg("ex.hint.conv_general"), "conv_output_size": Msg("ex.hint.size_general"),
                 "conv_params": Msg("ex.hint.params_general"), "pool_cell": Msg("ex.hint.pool_general"),
                 "fc_inputs": Msg("ex.hint.fc_general"), "receptive_field": Msg("ex.hint.rf_general"),
                 "predict": Msg("ex.hint.predict_general")}


# ---------------------------------------------------------------- a question about a screen's view

def _grid_from_text(text: str, max_size: int) -> list[list]:
    from cnnviz.ops import parse_grid

    return [[_number(v) for v in row] for row in parse_grid(text, "grid", max_size=max_size)]


def _architecture_layers(settings: dict) -> tuple[list, list[dict], list[tuple[str, dict]]]:
    """(input shape, fc_inputs layers, [(stage name, receptive_field layer)]) of the Architecture screen."""
    shapes = {"fmnist": (1, 28, 28), "cifar": (3, 32, 32), "slide": (3, 210, 310)}
    preset = settings.get("preset", "slide")
    shape = list(shapes.get(preset) or (settings.get("c", 3), settings.get("h", 64), settings.get("w", 64)))
    layers, stages = [], []
    for i, group in enumerate(str(settings.get("layers", "")).split(";"), start=1):
        parts = group.strip().split("-")
        if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts):
            raise ExerciseError("ex.err.bad_layers")
        f, k, p, pool = (int(v) for v in parts)
        layers.append(dict(filters=f, k=k, padding=p, pool=pool))
        stages += [(f"conv{i}", dict(k=k, stride=1, padding=p, dilation=1)), (f"relu{i}", None)]
        if pool:
            stages.append((f"pool{i}", dict(k=2, stride=2, padding=0, dilation=1)))
    return shape, layers, stages


def exercise_for_view(screen_id: str, settings: dict, seed: int = 0) -> Exercise | None:
    """The exercise that asks about what screen `screen_id` shows with `settings` (its fields by name, as in its
    link), or None when the screen has none or its values do not make one. `seed` picks among the questions:

    convolution: the current output cell (step), or the output size along the rows; pooling: the current cell;
    multichannel: the parameters of the layer; architecture: fc1's input size, or the receptive field of a unit
    of the chosen stage (the last one by default)."""
    try:
        seed = int(seed)
        if screen_id == "convolution":
            image, kernel = _grid_from_text(settings["input"], 12), _grid_from_text(settings["kernel"], 7)
            if settings.get("flip"):
                kernel = [row[::-1] for row in kernel[::-1]]
            s, p, d = (int(settings.get(n, dflt)) for n, dflt in (("stride", 1), ("padding", 0), ("dilation", 1)))
            if seed % 2:
                return make_exercise_from("conv_output_size", dict(n=len(image), k=len(kernel), stride=s, padding=p,
                                                                   dilation=d))
            trace = conv2d_steps(np.array(image), np.array(kernel), s, p, d)
            step = trace.steps[min(max(int(settings.get("step", 1)), 1), len(trace.steps)) - 1]
            return make_exercise_from("conv_cell", dict(input=image, kernel=kernel, stride=s, padding=p, dilation=d,
                                                        row=step.out_row, col=step.out_col))
        if screen_id == "pooling":
            x = _grid_from_text(settings["input"], 12)
            size, stride, mode = int(settings.get("size", 2)), int(settings.get("stride", 2)), settings.get("mode", "max")
            trace = pool2d_steps(np.array(x), size, stride, mode)
            step = trace.steps[min(max(int(settings.get("step", 1)), 1), len(trace.steps)) - 1]
            return make_exercise_from("pool_cell", dict(input=x, size=size, stride=stride, mode=mode,
                                                        row=step.out_row, col=step.out_col))
        if screen_id == "multichannel":
            from cnnviz.ops import parse_filters

            n = int(settings.get("filters", 2))
            weight = parse_filters([settings[f"f{i}"] for i in range(n)], channels=3)  # (F, C, k, k)
            f, c, k, _ = weight.shape
            # the screen's layer always has its F biases (left at 0 unless "use bias" is on): they count
            return make_exercise_from("conv_params", dict(c_in=c, c_out=f, k=k, bias=True))
        if screen_id == "architecture":
            shape, layers, stages = _architecture_layers(settings)
            if seed % 2 == 0:
                try:
                    return make_exercise_from("fc_inputs", dict(input_shape=shape, layers=layers))
                except CnnvizError:
                    pass  # the shape collapses: ask about a receptive field instead
            names = [name for name, _ in stages]
            stop = settings.get("rf_stage") or names[-1]
            if stop not in names:
                stop = names[-1]
            chain = [layer for _, layer in stages[:names.index(stop) + 1] if layer is not None]
            return make_exercise_from("receptive_field", dict(layers=chain))
    except (CnnvizError, KeyError, TypeError, ValueError, IndexError):
        return None
    return None


if __name__ == "__main__":
    kind, seed = (sys.argv[1], int(sys.argv[2])) if len(sys.argv) > 2 else ("conv_cell", 17)
    ex = make_exercise(kind, seed)
    print(json.dumps(ex.data))
    print(tr("en", ex.question().id, **ex.question().params))
    print("answer:", ex.answer_text())
    for m in ex.solution():
        print(" -", tr("en", m.id, **m.params))
