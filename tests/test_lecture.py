"""The home page's lecture path: every link opens its screen with the settings it carries."""

import re
from pathlib import Path

import numpy as np
import pytest

from tests.apptest import app, open_link
from ui.screens import BY_ID, LECTURE_PATH, query_for


@pytest.mark.parametrize("label_id, screen_id, values", LECTURE_PATH, ids=[e[1] for e in LECTURE_PATH])
def test_each_lecture_link_opens_its_screen_set_up(label_id, screen_id, values):
    screen = BY_ID[screen_id]
    at = open_link(Path(screen.file).stem, **query_for(screen_id, "fr", **values))
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for name, value in values.items():
        assert at.session_state[screen.key(name)] == value, name


def test_the_home_page_lists_the_path_with_its_settings():
    at = app(None, lang="fr")
    links = [el for el in at.get("page_link") if re.match(r"\d+\. ", el.proto.label)]
    assert len(links) == len(LECTURE_PATH)
    assert "Le Net des diapositives" in links[2].proto.label
    assert [el.proto.label.split(". ")[0] for el in links] == [str(i) for i in range(1, len(LECTURE_PATH) + 1)]


def test_the_learning_step_shows_a_confident_mistake():
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse
    from cnnviz.explore import inspect

    values = next(v for _, s, v in LECTURE_PATH if s == "learning")
    model, meta = load_checkpoint(SHIPPED)
    data = images_to_browse(meta["dataset"])
    result = inspect(model, data.images[values["idx"]])
    assert result.pred != data.labels[values["idx"]] and result.probs[result.pred] > 0.99


def test_the_shift_step_really_flips_the_prediction():
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse
    from cnnviz.explore import inspect
    from cnnviz.shift import shift_image

    values = next(v for _, s, v in LECTURE_PATH if s == "translation")
    model, meta = load_checkpoint(SHIPPED)
    data = images_to_browse(meta["dataset"])
    image = data.images[values["idx"]]
    before = inspect(model, image).pred
    after = inspect(model, shift_image(image, values["dx"], values["dy"])).pred
    assert before == data.labels[values["idx"]] and after != before
    assert np.isfinite(inspect(model, image).probs).all()
