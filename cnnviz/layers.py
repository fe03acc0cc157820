"""A network's conv layers written as one line of text, as the Architecture and Training screens (and their links)
carry them: "64-11-0-1;128-5-0-1" is, for each conv layer, filters-kernel-padding-pool (pool 1: a 2×2 max-pooling
after the layer, 0: none).

    parse_layers("64-11-0-1;128-5-0-1")        # ((64, 11, 0, 1), (128, 5, 0, 1)); ValueError for anything else
    net_from_layers("8-3-1-1", fc=32, bn=True, dropout=0.2, input_shape=(1, 28, 28), num_classes=10)
                                               # a ConvNetConfig dict (cnnviz.models), what TrainConfig.net holds
"""

from __future__ import annotations

from cnnviz.architecture import LIMITS, MAX_LAYERS
from cnnviz.models import COMPACT_CONVS, SEED_CONVS, ConvNetConfig, ConvSpec

# (lowest, highest) of each of the four numbers: the editor's limits (cnnviz.architecture), pool a 0/1 flag here.
LAYER_LIMITS = (LIMITS["out_channels"], LIMITS["kernel"], LIMITS["padding"], (0, 1))


def parse_layers(text: str) -> tuple[tuple[int, int, int, int], ...]:
    """'64-11-0-1;128-5-0-1' -> ((64, 11, 0, 1), (128, 5, 0, 1)); ValueError for anything else."""
    groups = [g.strip() for g in str(text).split(";") if g.strip()]
    if not 1 <= len(groups) <= MAX_LAYERS:
        raise ValueError(f"1 to {MAX_LAYERS} layers")
    rows = []
    for g in groups:
        parts = g.split("-")
        if len(parts) != 4 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
            raise ValueError(f"not filters-kernel-padding-pool: {g[:20]!r}")
        row = tuple(int(p) for p in parts)
        if not all(lo <= v <= hi for v, (lo, hi) in zip(row, LAYER_LIMITS)):
            raise ValueError("out of range")
        rows.append(row)
    return tuple(rows)


def format_layers(rows) -> str:
    """The inverse of parse_layers (checked: raises ValueError for a value out of range or not a whole number)."""
    out = []
    for row in rows:
        values = []
        for v in row:
            v = v.item() if hasattr(v, "item") else v  # numpy numbers from a table
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, int):  # bool is an int: a pool checkbox
                raise ValueError("not a whole number")
            values.append(int(v))
        out.append("-".join(map(str, values)))
    text = ";".join(out)
    parse_layers(text)
    return text


def layers_text(net: dict | None) -> str:
    """A ConvNetConfig dict's conv layers as text ('32-3-1-1;64-3-1-1'; "" for None), unchecked: a saved run's
    network is written as it is."""
    if not net:
        return ""
    return ";".join(f"{c['out_channels']}-{c['kernel']}-{c.get('padding', 0)}-{int(bool(c.get('pool')))}"
                    for c in net.get("convs", ()))


def net_from_layers(layers: str, fc: int, bn: bool, dropout: float, input_shape, num_classes: int) -> dict:
    """The ConvNetConfig dict of conv layers written as text, an fc1 of `fc` neurons, batch norm after every
    convolution or none, dropout before fc2 (ValueError for a text parse_layers refuses)."""
    convs = tuple(ConvSpec(f, k, p, bool(pool), batchnorm=bool(bn)) for f, k, p, pool in parse_layers(layers))
    return ConvNetConfig(tuple(int(v) for v in input_shape), convs, int(fc), int(num_classes),
                         dropout=float(dropout)).to_dict()


def layer_settings(net: dict) -> dict:
    """The inverse of net_from_layers: dict(layers, fc, bn, dropout) of a ConvNetConfig dict."""
    convs = net.get("convs", ())
    return dict(layers=layers_text(net), fc=int(net["fc_width"]), bn=any(bool(c.get("batchnorm")) for c in convs),
                dropout=float(net.get("dropout", 0.0)))


def _text(convs) -> str:
    return format_layers((c.out_channels, c.kernel, c.padding, c.pool) for c in convs)


SEED_LAYERS = _text(SEED_CONVS)  # the course's Net: "64-11-0-1;128-5-0-1;256-3-0-0"
COMPACT_LAYERS = _text(COMPACT_CONVS)  # the shipped network's conv layers: "32-3-1-1;64-3-1-1;128-3-1-1"
