"""The Translation screen compares the three shipped networks (standard, anti-aliased pooling, shifted
training) on the same image and on the test set."""

import pytest

from cnnviz.checkpoints import load_checkpoint
from cnnviz.data import images_to_browse
from cnnviz.figures_shift import network_label
from cnnviz.i18n import format_number
from cnnviz.shift import layer_gaps, remedy_paths
from tests.apptest import app, chart


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
    gaps = at.dataframe[0].value
    assert gaps.shape[1] == 3 and "conv1" in gaps.index  # one column per network, one row per layer
    consistency = chart(at, "remedy_consistency")
    assert len(consistency["data"]) == 6  # 3 networks × (zero fill, circular)


def test_the_gap_table_shows_the_library_measure(compared):
    """Every cell of the screen's table is cnnviz.shift.layer_gaps' gap over the whole map, in French."""
    table = compared.dataframe[0].value
    image = images_to_browse("fashion-mnist").images[0]
    for name, path in remedy_paths().items():
        model, _ = load_checkpoint(path)
        gaps = layer_gaps(model, image, 2, 0)
        column = table[network_label(name, "fr")]
        assert {stage: column[stage] for stage in gaps} == {stage: format_number("fr", g[1], ".1%")
                                                             for stage, g in gaps.items()}
        assert set(column[column != "—"].index) == set(gaps)  # "—": a layer this network does not have
        if name == "blur":
            assert gaps["conv1"][2] < 1e-5  # a convolution is equivariant away from the borders
            assert gaps["blur1"][0] == 2  # the anti-aliased subsampling halves the size
