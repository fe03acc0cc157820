"""The Translation screen compares the three shipped networks (standard, anti-aliased pooling, shifted
training) on the same image and on the test set."""

from cnnviz.shift import layer_gaps, remedy_paths
from tests.apptest import app, chart


def test_the_three_networks_side_by_side():
    at = app("translation", lang="fr")
    at.toggle(key="shift_compare").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
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


def test_the_gap_table_is_the_library_measure():
    from cnnviz.checkpoints import load_checkpoint
    from cnnviz.data import images_to_browse

    model, meta = load_checkpoint(remedy_paths()["blur"])
    image = images_to_browse("fashion-mnist").images[0]
    gaps = layer_gaps(model, image, 2, 0)
    assert gaps["conv1"][2] < 1e-5  # a convolution is equivariant away from the borders
    assert "blur1" in gaps and gaps["blur1"][0] == 2  # the anti-aliased subsampling halves the size
