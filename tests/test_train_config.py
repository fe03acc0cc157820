"""The Training screen's settings <-> TrainConfig, mapped once (TrainConfig.from_settings / to_settings): a round
trip over random settings, every setting of the screen mapped, the custom network built for the chosen data."""

import numpy as np
import pytest

from cnnviz.layers import parse_layers
from cnnviz.training import CUSTOM_ARCH, CUSTOM_MODEL, LIVE_EVERY_S, TrainConfig
from ui.screens import BY_ID, TRAINING_VIEW_FIELDS

SCREEN = BY_ID["training"]
FIELDS = [f for f in SCREEN.fields if f.name not in TRAINING_VIEW_FIELDS]  # the view's own (the timeline) aside
NETWORK_SETTINGS = {"layers", "fc", "bn", "dropout"}  # read only for the model "custom"
LAYERS = ("8-3-1-1", "32-3-1-1;64-3-1-1;128-3-1-1", "64-11-0-1;128-5-0-1;256-3-0-0", "1024-15-8-0;1-1-0-1")


def random_settings(rng: np.random.Generator) -> dict:
    """Settings as the screen holds them: each Field's type, within its range."""
    out = {}
    for f in FIELDS:
        if f.kind == "choice":
            out[f.name] = str(rng.choice(f.choices))
        elif f.kind == "bool":
            out[f.name] = bool(rng.integers(2))
        elif f.kind == "float":
            out[f.name] = float(rng.uniform(f.lo, f.hi))
        elif f.name == "layers":
            out[f.name] = str(rng.choice(LAYERS))
        else:
            out[f.name] = int(rng.integers(f.lo, f.hi + 1))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_settings_round_trip(seed):
    settings = random_settings(np.random.default_rng(seed))
    config = TrainConfig.from_settings(settings, max_seconds=600.0, eval_limit=2000)
    back = config.to_settings()
    expected = settings if settings["model"] == CUSTOM_MODEL else {
        k: v for k, v in settings.items() if k not in NETWORK_SETTINGS}
    assert back == expected
    assert TrainConfig.from_settings(back, max_seconds=600.0, eval_limit=2000) == config
    assert (config.max_seconds, config.eval_limit) == (600.0, 2000)


def test_every_setting_of_the_screen_is_mapped():
    """A new Field on the Training screen fails here until TrainConfig maps it (one edit, in the library)."""
    settings = {f.name: f.default for f in FIELDS} | {"model": CUSTOM_MODEL}
    assert set(TrainConfig.from_settings(settings).to_settings()) == set(settings)
    for name in settings:  # and each one is read
        with pytest.raises(KeyError):
            TrainConfig.from_settings({k: v for k, v in settings.items() if k != name})


def test_the_screen_defaults_as_a_config():
    config = TrainConfig.from_settings({f.name: f.default for f in FIELDS}).validate()
    assert (config.dataset, config.arch, config.loss, config.net) == ("fashion-mnist", "compact", "cross-entropy", None)
    assert (config.lr, config.momentum, config.batch_size, config.epochs) == (0.05, 0.9, 64, 2)
    assert (config.subset, config.seed, config.val_fraction, config.live_every) == (10_000, 0, 0.1, LIVE_EVERY_S)
    assert type(config.batch_size) is int and type(config.lr) is float


@pytest.mark.parametrize("dataset, shape", [("fashion-mnist", [1, 28, 28]), ("cifar10", [3, 32, 32])])
def test_the_custom_network_is_built_for_the_chosen_data(dataset, shape):
    settings = {f.name: f.default for f in SCREEN.fields} | dict(
        model=CUSTOM_MODEL, dataset=dataset, layers="6-5-2-1;12-3-0-0", fc=24, bn=False, dropout=0.3, live=False)
    config = TrainConfig.from_settings(settings).validate()
    assert config.arch == CUSTOM_ARCH and config.live_every == 0.0
    net = config.net
    assert net["input_shape"] == shape and net["num_classes"] == 10 and net["fc_width"] == 24 and net["dropout"] == 0.3
    assert [(c["out_channels"], c["kernel"], c["padding"], int(c["pool"])) for c in net["convs"]] == \
        list(parse_layers("6-5-2-1;12-3-0-0"))
    assert not any(c["batchnorm"] for c in net["convs"])
