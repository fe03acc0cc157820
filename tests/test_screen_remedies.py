"""The Translation screen compares the three shipped networks (standard, anti-aliased pooling, shifted
training) on the same image and on the test set."""

import math

import numpy as np
import pytest

from cnnviz.checkpoints import load_checkpoint
from cnnviz.data import images_to_browse
from cnnviz.explore import inspect
from cnnviz.i18n import format_number
from cnnviz.shift import equivariance_gap, layer_gaps, relative_gap, remedy_paths, shift_image, stage_scale
from tests.apptest import app, chart

NEAR, AWAY = "écart près du bord", "loin du bord"


@pytest.fixture(scope="module")
def compared():
    """The screen in French with the comparison on, at its defaults: test image 0 shifted by dx = 2, dy = 0."""
    at = app("translation", lang="fr")
    at.toggle(key="shift_compare").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    return at


def test_the_three_networks_side_by_side(compared):
    at = compared
    assert at.query_params["compare"] in ("1", ["1"])
    curves = chart(at, "remedy_curves")
    names = {trace["name"] for trace in curves["data"]}
    assert len(names) == len(remedy_paths()) == 3
    for name in ("standard", "blur", "shift"):
        assert chart(at, f"remedy_diff_{name}")["data"]  # the deepest maps' shift error of each network
    tables = [d.value for d in at.dataframe]  # one per network: each layer's gap near the border and away
    assert len(tables) == 3 and all(list(g.columns) == ["couche", NEAR, AWAY] for g in tables)
    shown = " ".join(m.value for m in at.markdown)
    assert shown.count("✓") + shown.count("✗") == 3  # each network's outcome, not by colour alone
    consistency = chart(at, "remedy_consistency")
    assert len(consistency["data"]) == 6  # 3 networks × (zero fill, circular)


def test_the_gap_tables_show_the_library_measure(compared):
    """Every cell of the screen's tables is cnnviz.shift.layer_gaps' gap, split into the cells near the border
    and the cells away from it (disjoint: whole² = near² + away²), in French."""
    image = images_to_browse("fashion-mnist").images[0]
    for (name, path), table in zip(remedy_paths().items(), (d.value for d in compared.dataframe)):
        model, _ = load_checkpoint(path)
        gaps = layer_gaps(model, image, 2, 0)
        table = table.set_index("couche")
        assert list(table.index) == list(gaps)
        for stage, (_, whole, away) in gaps.items():
            assert table.loc[stage, AWAY] == format_number("fr", away, ".1%")
            assert table.loc[stage, NEAR] == format_number("fr", math.sqrt(max(whole ** 2 - away ** 2, 0)), ".1%")
        assert table.loc["conv1", AWAY] == "0,0\u00a0%"  # a convolution: all its gap is the zero fill at the border
        if name == "blur":
            assert gaps["conv1"][2] < 1e-5  # a convolution is equivariant away from the borders
            assert gaps["blur1"][0] == 2  # the anti-aliased subsampling halves the size


def test_near_the_border_is_the_band_of_border_cells():
    """The screen's "near the border" is the gap over the border cells alone, measured directly."""
    model, _ = load_checkpoint(remedy_paths()["standard"])
    image = images_to_browse("fashion-mnist").images[0]
    gaps = layer_gaps(model, image, 2, 0)
    m0 = inspect(model, image).maps["pool1"]
    m1 = inspect(model, shift_image(image, 2, 0)).maps["pool1"]
    scale = stage_scale(image.shape, m0.shape[1:])
    diff, expected = equivariance_gap(m1, m0, 2, 0, scale)
    border = max(1, 3 // scale + 2 // scale)
    band = diff.copy()
    band[:, border:-border, border:-border] = 0  # only the cells near the border
    assert np.isclose(gaps["pool1"][1] ** 2, relative_gap(band, expected) ** 2 + gaps["pool1"][2] ** 2)
