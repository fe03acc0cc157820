"""The step engines against torch.nn.functional: exact on integers, to float tolerance otherwise."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnviz import ShapeError
from cnnviz.ops import (
    SEED_IMAGE,
    SEED_KERNEL,
    SEED_OUTPUT,
    SEED_POOL_INPUT,
    SEED_POOL_OUTPUT,
    GridError,
    conv2d,
    conv2d_multi,
    conv2d_steps,
    format_grid,
    kernel_preset,
    parse_grid,
    pool2d,
    pool2d_steps,
)


def torch_conv(x, w, b=None, **kw):
    """x (C, H, W), w (F, C, kh, kw) -> (F, H', W') in float64 via torch."""
    t = F.conv2d(torch.as_tensor(x, dtype=torch.float64)[None], torch.as_tensor(w, dtype=torch.float64),
                 None if b is None else torch.as_tensor(b, dtype=torch.float64), **kw)
    return t[0].numpy()


@st.composite
def conv_case(draw, channels=False):
    k = draw(st.integers(1, 7))
    kw_ = draw(st.integers(1, 7))
    d = draw(st.integers(1, 3))
    p = draw(st.integers(0, 3))
    s = draw(st.integers(1, 3))
    # input big enough for the dilated kernel once padded
    h_min, w_min = max(1, d * (k - 1) + 1 - 2 * p), max(1, d * (kw_ - 1) + 1 - 2 * p)
    h = draw(st.integers(h_min, max(h_min, 12)))
    w = draw(st.integers(w_min, max(w_min, 12)))
    c = draw(st.integers(1, 4)) if channels else 1
    f = draw(st.integers(1, 4)) if channels else 1
    seed = draw(st.integers(0, 2**32 - 1))
    integer = draw(st.booleans())
    rng = np.random.default_rng(seed)
    if integer:
        x, wt, b = rng.integers(-9, 10, (c, h, w)), rng.integers(-5, 6, (f, c, k, kw_)), rng.integers(-5, 6, f)
    else:
        x, wt, b = rng.normal(size=(c, h, w)), rng.normal(size=(f, c, k, kw_)), rng.normal(size=f)
    return x, wt, b, dict(stride=s, padding=p, dilation=d), integer


def check(actual, expected, integer):
    assert actual.shape == expected.shape
    if integer:
        assert np.array_equal(actual, expected.astype(np.int64))
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)


@settings(max_examples=300, deadline=None)
@given(conv_case())
def test_conv2d_steps_matches_torch(case):
    x, w, _, kw, integer = case
    trace = conv2d_steps(x[0], w[0, 0], **kw)
    check(trace.output, torch_conv(x, w, **kw)[0], integer)
    assert len(trace.steps) == trace.output.size
    for step in trace.steps:  # raster order, and every step's products sum to its value
        assert step.index == step.out_row * trace.output.shape[1] + step.out_col
        assert step.products.sum() == pytest.approx(step.value, abs=1e-9)
        assert np.array_equal(step.products, step.window * w[0, 0])
        assert trace.output[step.out_row, step.out_col] == step.value
    check(conv2d(x[0], w[0, 0], **kw), torch_conv(x, w, **kw)[0], integer)


@settings(max_examples=300, deadline=None)
@given(conv_case(channels=True), st.booleans())
def test_conv2d_multi_matches_torch(case, with_bias):
    x, w, b, kw, integer = case
    b = b if with_bias else None
    trace = conv2d_multi(x, w, b, **kw)
    check(trace.output, torch_conv(x, w, b, **kw), integer)
    # each partial map is that channel's own convolution
    for c in range(x.shape[0]):
        check(trace.partials[:, c], torch_conv(x[c:c + 1], w[:, c:c + 1], **kw), integer)
    bias = 0 if b is None else b[:, None, None]
    np.testing.assert_allclose(trace.partials.sum(1) + bias, trace.output, atol=1e-9)
    terms, total = trace.cell(0, 0, 0)
    assert sum(t.value for t in terms) + (0 if b is None else b[0]) == pytest.approx(total)
    assert trace.parameter_count == w.size + w.shape[0]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(4, 12), st.integers(4, 12),
       st.sampled_from(["max", "avg"]), st.booleans(), st.integers(0, 2**32 - 1))
def test_pool2d_matches_torch(size, stride, h, w, mode, integer, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, (h, w)) if integer else rng.normal(size=(h, w))  # small ints: many ties
    t = torch.as_tensor(x, dtype=torch.float64)[None, None]
    trace = pool2d_steps(x, size, stride, mode)
    if mode == "max":
        ref, idx = F.max_pool2d(t, size, stride, return_indices=True)
        for step in trace.steps:  # the argmax is torch's, ties included
            r, c = step.argmax
            assert r * w + c == idx[0, 0, step.out_row, step.out_col].item()
            assert x[r, c] == step.value == step.window.max()
    else:
        ref = F.avg_pool2d(t, size, stride)
    np.testing.assert_allclose(trace.output, ref[0, 0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(pool2d(x, size, stride, mode), ref[0, 0].numpy(), rtol=1e-12)


def test_seed_convolution_example():
    trace = conv2d_steps(SEED_IMAGE, SEED_KERNEL)
    assert np.array_equal(trace.output, SEED_OUTPUT)
    assert trace.output.dtype == np.int64
    last = trace.steps[-1]  # the slide highlights the bottom-right window: 1+0+1+0+1+0+1+0+0 = 4
    assert (last.row, last.col) == (2, 2) and last.value == 4
    assert trace.products_text(trace.steps[0]) == "1×1 + 1×0 + 1×1 + 0×0 + 1×1 + 1×0 + 0×1 + 0×0 + 1×1 = 4"


def test_seed_pooling_example():
    trace = pool2d_steps(SEED_POOL_INPUT, 2)
    assert np.array_equal(trace.output, SEED_POOL_OUTPUT)
    assert [s.argmax for s in trace.steps] == [(0, 1), (0, 2), (3, 0), (2, 2)]


def test_pool_mode_names():
    assert pool2d_steps(SEED_POOL_INPUT, 2, mode="average").output[0, 0] == pytest.approx(13.0)
    with pytest.raises(ShapeError, match="mode"):
        pool2d_steps(SEED_POOL_INPUT, 2, mode="median")


@pytest.mark.parametrize("kwargs, message", [
    (dict(stride=0), "stride"),
    (dict(padding=-1), "padding"),
    (dict(dilation=0), "dilation"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ShapeError, match=message):
        conv2d_steps(SEED_IMAGE, SEED_KERNEL, **kwargs)


def test_kernel_larger_than_padded_input():
    with pytest.raises(ShapeError, match="padded input is only 5×5"):
        conv2d_steps(SEED_IMAGE, np.ones((7, 7)))
    assert conv2d_steps(SEED_IMAGE, np.ones((7, 7)), padding=1).output.shape == (1, 1)


def test_non_finite_input_refused():
    with pytest.raises(ShapeError, match="finite"):
        conv2d_steps(np.array([[1.0, np.nan]]), np.ones((1, 1)))


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("1 2\n3 x", "row 2, column 2: “x” is not a number"),
    ("1 2\n3", "different lengths"),
    ("1 inf", "not a finite number"),
    ("1 nan", "not a finite number"),
    ("1 1e300", "too large"),
    ("\n".join(["1 " * 13] * 2), "at most 12×12"),
])
def test_parse_grid_errors(text, message):
    with pytest.raises(GridError, match=message):
        parse_grid(text, "Input")


def test_parse_grid_round_trip():
    assert np.array_equal(parse_grid(format_grid(SEED_IMAGE)), SEED_IMAGE)
    assert parse_grid("1, 2; 3\n[0.5 1 2]").tolist() == [[1, 2, 3], [0.5, 1, 2]]


def test_presets():
    for name in ("identity", "box_blur", "gaussian_blur"):
        for size in (1, 3, 5):
            k = kernel_preset(name, size)
            assert k.shape == (size, size)
    assert kernel_preset("gaussian_blur", 5).sum() == pytest.approx(1.0)
    # identity leaves the image unchanged (padding 1 keeps the size)
    assert np.array_equal(conv2d_steps(SEED_IMAGE, kernel_preset("identity"), padding=1).output, SEED_IMAGE)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_multichannel_products_line_reads_each_number_as_number_text(lang):
    """cnnviz.multichannel.products_text writes its numbers in one go (format_numbers): the same text as
    number_text term by term, float round-off (1e-17) read as 0."""
    from cnnviz.multichannel import number_text, products_text

    rng = np.random.default_rng(3)
    for _ in range(200):
        window = np.round(rng.standard_normal((3, 3)) * 10.0 ** rng.integers(-3, 5), int(rng.integers(0, 5)))
        kernel = rng.integers(-3, 4, (3, 3)) + (rng.random((3, 3)) < 0.3) * 1e-17 + (rng.random((3, 3)) < 0.3) * 0.125
        expected = " + ".join(f"{number_text(lang, a)}×{number_text(lang, b)}"
                              for a, b in zip(window.ravel(), kernel.ravel())) + f" = {number_text(lang, -2.5)}"
        assert products_text(lang, window, kernel, -2.5) == expected
