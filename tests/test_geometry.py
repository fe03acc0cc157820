"""cnnviz.geometry against torch: output sizes against real layers' shapes, "same" padding against
padding="same", receptive fields against the support of a unit's gradient."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnviz.blurpool import BlurPool2d
from cnnviz.geometry import Field, Window, extent, output_size, pair, receptive_field, same_padding, window_of


def test_pair():
    assert pair(3) == (3, 3) and pair((3, 5)) == (3, 5) and pair([2, 1]) == (2, 1)
    assert pair(np.int64(4)) == (4, 4) and pair((np.int32(1), 2)) == (1, 2)
    assert all(type(v) is int for v in pair(np.int64(4)) + pair((np.int32(1), 2)))
    for bad in ("same", 2.5, (1, 2, 3), (1.5, 2)):
        with pytest.raises((TypeError, ValueError)):
            pair(bad)


def test_the_course_examples():
    assert output_size(5, 3) == 3  # the slide's 5×5 image, 3×3 kernel
    assert output_size(7, 3, stride=2, padding=1) == 4
    assert output_size(12, 3, dilation=3) == 6 and extent(3, dilation=3) == 7
    assert output_size(210, 11) == 200 and output_size(200, 2, stride=2) == 100  # the course's Net, conv1 and pool1
    assert output_size(2, 3) < 1  # the window does not fit: the layer collapses
    assert same_padding(3) == 1 and same_padding(5) == 2 and same_padding(3, dilation=2) == 2 and same_padding(4) == 1


@st.composite
def window_case(draw):
    k, s, d = draw(st.integers(1, 7)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    p = draw(st.integers(0, 4))
    n = draw(st.integers(1, 24))
    return n, k, s, p, d


@settings(max_examples=200, deadline=None)
@given(window_case())
def test_output_size_is_torchs(case):
    n, k, s, p, d = case
    x = torch.zeros(1, 1, n, n + 3)
    w = torch.zeros(1, 1, k, k)
    expected = output_size(n, k, s, p, d), output_size(n + 3, k, s, p, d)
    if min(expected) < 1:  # torch refuses a window that does not fit
        with pytest.raises(RuntimeError):
            F.conv2d(x, w, stride=s, padding=p, dilation=d)
        return
    assert F.conv2d(x, w, stride=s, padding=p, dilation=d).shape[2:] == expected
    if 2 * p <= k:  # torch's pooling pads at most half the kernel
        assert F.max_pool2d(x, k, s, p, d).shape[2:] == expected
        assert F.avg_pool2d(x, k, s, p).shape[2:] == (output_size(n, k, s, p), output_size(n + 3, k, s, p))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.integers(1, 16), st.integers(0, 2**31))
def test_same_padding_is_torchs(k, d, n, seed):
    """padding="same": as many cells before as same_padding says, the rest after; the size is kept."""
    g = torch.Generator().manual_seed(seed)
    x, w = torch.randn(1, 1, n, n + 1, generator=g), torch.randn(1, 1, k, k, generator=g)
    same = F.conv2d(x, w, padding="same", dilation=d)
    before = same_padding(k, d)
    after = extent(k, d) - 1 - before
    assert after in (before, before + 1)
    explicit = F.conv2d(F.pad(x, (before, after, before, after)), w, dilation=d)
    torch.testing.assert_close(same, explicit)
    window = window_of(nn.Conv2d(1, 1, k, padding="same", dilation=d))
    assert (window.output_size(0, n), window.output_size(1, n + 1)) == tuple(same.shape[2:]) == (n, n + 1)


@pytest.mark.parametrize("module", [
    nn.Conv2d(2, 3, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
    nn.Conv2d(2, 3, 4, padding="same"),
    nn.Conv2d(2, 3, 3, padding="valid", stride=2),
    nn.MaxPool2d(3),  # stride None: the kernel size
    nn.MaxPool2d(2, stride=1, padding=1, dilation=2),
    nn.AvgPool2d((2, 3), stride=(1, 2), padding=1),
    BlurPool2d(2),  # size 3: one cell of padding on each side
    BlurPool2d(2, size=2, stride=3),  # (0, 1): the cell after the last only
])
def test_window_of_a_layer_gives_its_output_shape(module):
    window = window_of(module)
    assert isinstance(window, Window) and all(len(v) == 2 for v in (window.kernel, window.stride, window.padding))
    for h, w in ((9, 9), (11, 16), (24, 7)):
        out = module(torch.zeros(1, 2, h, w))
        assert (window.output_size(0, h), window.output_size(1, w)) == tuple(out.shape[2:]), (module, h, w)


def out_length(layers, n: int) -> int:
    """The output length of a chain of 1-D windows on an input of length n (< 1: it does not fit)."""
    for layer in layers:
        n = output_size(n, *layer)
        if n < 1:
            return n
    return n


@st.composite
def chain_case(draw):
    """A chain of 1-D windows (k, stride, padding, dilation), an input on which every layer fits, a unit."""
    layers = draw(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2)),
                           min_size=1, max_size=4))
    n = next(n for n in range(1, 1000) if out_length(layers, n) >= 1) + draw(st.integers(0, 30))
    unit = draw(st.integers(0, out_length(layers, n) - 1))
    return layers, n, unit


def support(layers, n: int, unit: int) -> np.ndarray:
    """Input cells whose gradient reaches output `unit` through convolutions of ones along one axis."""
    x = (torch.rand(1, 1, 1, n, dtype=torch.float64) + 0.5).requires_grad_()
    y = x
    for k, s, p, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, 1, k, dtype=torch.float64), stride=(1, s), padding=(0, p), dilation=(1, d))
    y[0, 0, 0, unit].backward()
    return np.flatnonzero(x.grad[0, 0, 0].numpy())


@settings(max_examples=200, deadline=None)
@given(chain_case())
def test_receptive_field_is_the_gradients_support(case):
    layers, n, unit = case
    field = receptive_field(layers)
    cells = support(layers, n, unit)
    first, last = field.span(unit)
    assert last - first + 1 == field.size
    lo, hi = field.span(unit, n)
    assert all(lo <= c <= hi for c in cells)  # nothing is read outside the field
    if 0 <= first and last < n:  # inside the input both ends are read (dilation, or a stride longer than the
        assert (cells.min(), cells.max()) == (first, last)  # kernel, may leave cells unread between them)
    holes = any(d > 1 or s > k for k, s, _, d in layers)
    if not holes and not any(p for _, _, p, _ in layers[1:]):  # the clipped field is exactly what is read (a
        assert cells.tolist() == list(range(lo, hi + 1))  # deeper layer's padding would hide input cells)


def test_receptive_field_of_the_course_net():
    # conv1 11×11, pool 2, conv2 5×5, pool 2, conv3 3×3: 11 + 1 + 4·2 + 1·2 + 2·4 = 30 pixels, 4 apart
    field = receptive_field([(11, 1, 0, 1), (2, 2, 0, 1), (5, 1, 0, 1), (2, 2, 0, 1), (3, 1, 0, 1)])
    assert field == Field(size=30, jump=4, start=0)
    assert field.span(10) == (40, 69) and field.span(45, 210) == (180, 209)  # clipped at the border
    assert receptive_field([]) == Field(1, 1, 0)  # no layer: the pixel itself
    padded = receptive_field([(3, 1, 1, 1), (3, 2, 1, 1)])
    assert padded.start == -2 and padded.span(0) == (-2, 2) and padded.span(0, 8) == (0, 2)
