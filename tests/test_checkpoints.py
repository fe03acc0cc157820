"""Checkpoints: round trip, refusal of pickled objects (without running them), truncated files, wrong architecture."""

import os
import pickle

import pytest
import torch

from cnnviz import CheckpointError
from cnnviz.checkpoints import SHIPPED, load_checkpoint, save_checkpoint
from cnnviz.models import MLP, CompactCNN

META = dict(dataset="fashion-mnist", classes=[str(i) for i in range(10)], input_shape=[1, 28, 28], test_accuracy=0.5)


def test_round_trip(tmp_path):
    model = CompactCNN()
    path = save_checkpoint(tmp_path / "m.pt", model, "compact", dict(META, seed=3))
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    assert meta["seed"] == 3 and meta["input_shape"] == (1, 28, 28) and meta["arch"] == "compact"
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left behind


class Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickled_object_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "cnnviz-1", "arch": "compact", "meta": META, "state_dict": {}, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not (tmp_path / "PWNED").exists()


def test_truncated_file(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", CompactCNN(), "compact", META)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "empty.pt")


def test_other_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", MLP(), "compact", META)  # weights of an MLP, labelled compact
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(path)


def test_missing_file_and_metadata(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"format": "cnnviz-1", "arch": "compact", "state_dict": {}, "meta": {}}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="metadata"):
        load_checkpoint(tmp_path / "m.pt")


def test_shipped_checkpoint_reaches_92_percent(fmnist_test):
    from cnnviz.evaluate import evaluate

    model, meta = load_checkpoint(SHIPPED)
    assert meta["dataset"] == "fashion-mnist" and meta["input_shape"] == (1, 28, 28)
    for key in ("command", "train_seconds", "seed", "epochs", "normalization"):
        assert key in meta
    report = evaluate(model, fmnist_test)
    print(f"shipped network: {report.accuracy:.4f} on {len(fmnist_test)} test images")
    assert report.accuracy >= 0.92
    assert abs(report.accuracy - meta["test_accuracy"]) < 1e-6


def test_shipped_files_are_small():
    total = sum(p.stat().st_size for p in SHIPPED.parent.iterdir() if p.is_file())
    assert total < 2 * 1024 * 1024
