"""AppTest of Training and Architecture."""

import time

from tests.apptest import app, button, chart, text


def test_architecture_todo_and_collapse():
    at = app("architecture")
    assert any("836,096" in s.value for s in at.success)
    assert "nn.Linear(256 * 46 * 71, 120)" in text(at)
    at.selectbox(key="ar_preset").set_value("3×32×32 (CIFAR-10)").run()
    assert any("**256**" in s.value for s in at.success)
    at.selectbox(key="ar_preset").set_value("1×28×28 (Fashion-MNIST)").run()
    assert any("conv3" in e.value and "collapses" in e.value for e in at.error)


def test_training_start_stop_report(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    at = app("training")
    at.number_input(key="tr_subset").set_value(3000).run()
    button(at, "Start").click().run()
    assert not at.exception
    job = at.session_state["train_job"]
    deadline = time.monotonic() + 60
    while job.snapshot().step < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()  # fragments do not tick in AppTest: poll by running again
    assert any(el.proto.id and "train_loss" in el.proto.id for el in at.get("plotly_chart"))
    button(at, "Stop").click().run()
    assert job.snapshot().status == "stopped"
    assert not at.exception
    assert any(m.label == "Test accuracy" for m in at.metric)
    assert any("weighted avg" in c.value for c in at.code)
    assert chart(at, "train_confusion")["data"][0]["type"] == "heatmap"
    saved = list(tmp_path.glob("*.pt"))
    assert saved  # saved as a user run
    # a misclassified image opens in the feature-map screen, with the network just trained
    opens = [b for b in at.button if b.label == "Inspect"]
    assert opens
    wrong = int(opens[0].key.rsplit("_", 1)[1])
    opens[0].click().run()
    assert not at.exception
    assert at.session_state["shared_image"]["index"] == wrong
    assert at.selectbox(key="network").value == saved[0]
    assert any("Prediction" in m.value for m in at.markdown)


