"""A model the user wrote (CNNVIZ_MODEL / CNNVIZ_WEIGHTS): its stages from the graph, maps equal to a
hand-written forward pass, clear messages for what cannot be opened."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnviz import CnnvizError
from cnnviz.explore import conv_groups, inspect
from cnnviz.usermodel import load_user_model

NET = Path(__file__).parent / "fixtures" / "course_net.py"


@pytest.fixture
def weights(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("course_net_for_weights", NET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.save(module.Net().state_dict(), path)
    return path


def test_functional_calls_are_stages_and_maps_equal_a_hand_written_forward(weights):
    model, meta = load_user_model(f"{NET}:Net", str(weights))
    assert list(model.stages) == ["conv1", "relu", "max_pool2d", "conv2", "relu_1", "max_pool2d_1", "flatten",
                                  "fc1", "relu_2", "fc2"]
    assert meta["classes"][0] == "T-shirt/top" and meta["input_shape"] == (1, 28, 28) and "Net" in meta["path"]
    state = torch.load(weights, weights_only=True)
    image = np.random.default_rng(1).integers(0, 256, size=(28, 28), dtype=np.uint8)
    x = torch.from_numpy(image).float()[None, None] / 255 * 2 - 1  # (1, 1, 28, 28) in [-1, 1]
    c1 = F.conv2d(x, state["conv1.weight"], state["conv1.bias"])
    p1 = F.max_pool2d(F.relu(c1), 2)
    c2 = F.conv2d(p1, state["conv2.weight"], state["conv2.bias"])
    p2 = F.max_pool2d(F.relu(c2), 2)
    h = F.relu(F.linear(p2.flatten(1), state["fc1.weight"], state["fc1.bias"]))
    logits = F.linear(h, state["fc2.weight"], state["fc2.bias"])
    result = inspect(model, image)
    np.testing.assert_allclose(result.maps["conv1"], c1[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.maps["max_pool2d"], p1[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.maps["max_pool2d_1"], p2[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.probs, torch.softmax(logits[0], 0).numpy(), atol=1e-5)
    assert list(conv_groups(model)) == ["conv1", "conv2"]  # the screens' conv blocks


def test_an_untraceable_model_names_its_line(weights):
    with pytest.raises(CnnvizError) as info:
        load_user_model(f"{NET}:Moody", None)
    exc = info.value
    assert exc.code == "err.user_untraceable"
    assert exc.params["line"] == 28 and exc.params["path"] == "course_net.py"  # `if x.mean() > 0:`
    assert "ligne 28 de course_net.py" in exc.message("fr")


@pytest.mark.parametrize("spec, code", [
    ("nonsense", "err.user_spec"),
    ("/nowhere/net.py:Net", "err.user_missing"),
    (f"{NET}:Nope", "err.user_no_class"),
])
def test_bad_settings_give_messages(spec, code):
    with pytest.raises(CnnvizError) as info:
        load_user_model(spec, None)
    assert info.value.code == code


def test_weights_of_another_network_or_pickles_are_refused(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"conv1.weight": torch.zeros(3, 1, 3, 3)}, other)
    with pytest.raises(CnnvizError) as info:
        load_user_model(f"{NET}:Net", str(other))
    assert info.value.code == "err.user_weights_mismatch"

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, evil)
    with pytest.raises(CnnvizError) as info:
        load_user_model(f"{NET}:Net", str(evil))
    assert info.value.code == "err.user_weights" and not marker.exists()


def test_the_user_model_appears_in_the_network_pickers(weights, monkeypatch):
    """Started with CNNVIZ_MODEL / CNNVIZ_WEIGHTS, Feature maps and Translation offer it under its class name."""
    import streamlit as st

    from tests.apptest import app

    monkeypatch.setenv("CNNVIZ_MODEL", f"{NET}:Net")
    monkeypatch.setenv("CNNVIZ_WEIGHTS", str(weights))
    st.cache_resource.clear()
    for page in ("feature_maps", "translation"):
        at = app(page)
        box = at.selectbox(key="fm_network" if page == "feature_maps" else "shift_network")
        assert any("Your model: Net (course_net.py)" in o for o in box.options)
        box.set_value("user:Net").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        assert at.get("plotly_chart"), page


# ---------------------------------------------------------------- issue 22 item 8: a model that never answers

import threading  # noqa: E402
import time  # noqa: E402

HEAD = "import sys\nimport time\n\nimport torch\nfrom torch import nn\n\n\n"
BODY = '''class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        {init}
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        {forward}
        return self.fc(x.flatten(1))


'''


def write_net(folder, name: str, init: str = "pass", forward: str = "pass", head: str = "") -> str:
    """A user's model file in `folder` -> its CNNVIZ_MODEL spec (each test its own file: a broken model stays
    broken for the process)."""
    path = folder / f"{name.lower()}_net.py"
    path.write_text(HEAD + head + BODY.format(name=name, init=init, forward=forward))
    return f"{path}:{name}"


def finishes(fn, seconds: float):
    """fn() in a thread that must end within `seconds`; its result, or what it raised. Before issue 22 a model
    could keep a load for ever (or raise SystemExit / KeyboardInterrupt, reported here as AssertionError)."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still loading after {seconds} s"
    error = box.get("error")
    if error is not None and not isinstance(error, Exception):
        raise AssertionError(f"{type(error).__name__} escaped: {error}")
    if error is not None:
        raise error
    return box["value"]


def user_workers() -> list:
    return [t for t in threading.enumerate() if t.name == "cnnviz-user-model" and t.is_alive()]


def test_a_model_whose_forward_loops_for_ever_is_bounded_then_marked_broken(tmp_path):
    spec = write_net(tmp_path, "Loop", forward="while True:\n            pass")
    with pytest.raises(CnnvizError) as info:
        finishes(lambda: load_user_model(spec, seconds=2), 30)
    assert info.value.code == "err.user_timeout"
    assert "Loop did not answer within 2 s" in str(info.value) and "not be run again" in str(info.value)
    assert "n'a pas répondu en 2\u00a0s" in info.value.message("fr")
    before = len(user_workers())
    with pytest.raises(CnnvizError) as info:  # not run again: no new worker, the answer at once
        finishes(lambda: load_user_model(spec, seconds=2), 1)
    assert info.value.code == "err.user_broken" and "marked broken" in str(info.value)
    assert len(user_workers()) <= before
    deadline = time.monotonic() + 10  # the pure-Python loop was asked to stop: it does not spin for ever
    while user_workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not user_workers()


def test_a_model_that_sleeps_is_bounded(tmp_path):
    spec = write_net(tmp_path, "Sleepy", forward="time.sleep(3)")
    with pytest.raises(CnnvizError) as info:
        finishes(lambda: load_user_model(spec, seconds=1), 20)  # was 4 sleeps (tracing ×3, check): 12 s
    assert info.value.code == "err.user_timeout"


@pytest.mark.parametrize("init, what", [
    ("sys.exit(3)", "SystemExit: 3"), ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("raise BaseException('no')", "BaseException: no"), ("raise SystemExit", "SystemExit"),
])
def test_a_model_that_exits_gives_a_message(tmp_path, init, what):
    """SystemExit, KeyboardInterrupt or BaseException from the user's __init__ left a blank page."""
    spec = write_net(tmp_path, "Quits", init=init)
    with pytest.raises(CnnvizError) as info:
        finishes(lambda: load_user_model(spec), 30)
    assert info.value.code == "err.user_raised" and f"stopped with {what} while the model was loading" in str(info.value)
    assert str(tmp_path) not in str(info.value) and "quits_net.py" in str(info.value)
    assert "s'est arrêté avec" in info.value.message("fr")


def test_a_model_file_that_exits_on_import_gives_a_message(tmp_path):
    spec = write_net(tmp_path, "Gone", head="sys.exit('bye')\n\n\n")
    with pytest.raises(CnnvizError) as info:
        finishes(lambda: load_user_model(spec), 30)
    assert info.value.code == "err.user_raised" and "SystemExit: bye" in str(info.value)


def test_messages_name_no_absolute_server_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(CnnvizError) as info:
        load_user_model(f"{tmp_path}/models/missing.py:Net")
    assert "models/missing.py" in str(info.value) and str(tmp_path) not in str(info.value)
    with pytest.raises(CnnvizError) as info:
        load_user_model("/nowhere/at/all/net.py:Net")
    assert "net.py" in str(info.value) and "/nowhere" not in str(info.value)
    secret = tmp_path.parent / "elsewhere" / "secret.txt"
    spec = write_net(tmp_path / "models", "Opens", head=f"open({str(secret)!r})\n\n\n")
    with pytest.raises(CnnvizError) as info:
        load_user_model(spec)
    assert info.value.code == "err.user_import" and "secret.txt" in str(info.value)
    assert str(tmp_path.parent) not in str(info.value)
    spec = write_net(tmp_path / "models", "Fine")
    with pytest.raises(CnnvizError) as info:
        load_user_model(spec, str(tmp_path.parent / "elsewhere" / "w.pt"))
    assert info.value.code == "err.user_weights" and "w.pt" in str(info.value)
    assert str(tmp_path.parent) not in str(info.value)


def test_a_fifo_as_weights_does_not_block(tmp_path):
    import os

    os.mkfifo(tmp_path / "w.pt")
    spec = write_net(tmp_path, "Piped")
    with pytest.raises(CnnvizError) as info:
        finishes(lambda: load_user_model(spec, str(tmp_path / "w.pt")), 20)
    assert info.value.code == "err.user_weights" and "not a regular file" in str(info.value)


def test_a_stage_that_runs_its_own_code_is_refused(tmp_path):
    """After loading, the pages run torch.nn modules only: a hook (or a replaced forward) would run the user's
    code at every page, unbounded."""
    spec = write_net(tmp_path, "Hooked", init="self.flat = nn.Flatten()\n        "
                                             "self.flat.register_forward_hook(lambda m, i, o: time.sleep(0))",
                     forward="x = self.flat(x)")
    with pytest.raises(CnnvizError) as info:
        load_user_model(spec)
    assert info.value.code == "err.user_stage_code" and "flat" in str(info.value)


def test_the_model_is_checked_at_start_up_and_the_result_logged(tmp_path, monkeypatch, caplog):
    import logging

    from cnnviz import usermodel

    caplog.set_level(logging.INFO, logger="cnnviz.usermodel")
    monkeypatch.setenv("CNNVIZ_MODEL", f"{NET}:Net")
    thread = usermodel.check_in_background()
    thread.join(60)
    assert any("CNNVIZ_MODEL check" in r.message and "loads (10 stages" in r.message for r in caplog.records)
    model, _ = load_user_model(f"{NET}:Net")  # the pages get the model the check loaded
    assert model is usermodel._LOADED[next(iter(usermodel._LOADED))][0]
    monkeypatch.setenv("CNNVIZ_MODEL", write_net(tmp_path, "Late", forward="time.sleep(5)"))
    assert "check failed" in usermodel.check_now(seconds=1)
    assert any("Late did not answer within 1 s" in r.message for r in caplog.records)
    monkeypatch.delenv("CNNVIZ_MODEL")
    assert usermodel.check_in_background() is None and usermodel.check_now() == ""


def test_a_trace_that_hangs_breaks_no_other_network(tmp_path):
    """While torch.fx traces, nn.Module.__call__ is replaced for the whole process: another session's network
    used to fail with NameError for as long as a user's model hung in its traced forward."""
    from cnnviz.models import CompactCNN

    marker = tmp_path / "tracing"
    spec = write_net(tmp_path, "SlowTrace", forward=f"if isinstance(x, torch.fx.Proxy):\n            "
                                                      f"open({str(marker)!r}, 'w').close()\n            time.sleep(2)")
    loading = threading.Thread(target=lambda: load_user_model(spec), daemon=True)
    loading.start()
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:  # until the load is in its traced forward
        time.sleep(0.05)
    assert marker.exists() and loading.is_alive()
    other = CompactCNN().eval()
    with torch.inference_mode():
        assert other(torch.rand(1, 1, 28, 28)).shape == (1, 10)  # another session's forward, meanwhile
    loading.join(30)
    model, _ = load_user_model(spec)
    assert list(model.stages) == ["flatten", "fc"]
