"""Server settings from the environment: bad values give a clear warning and a safe default (issue 15, item 8)."""

import logging

import pytest

from cnnviz import config
from cnnviz.config import DEFAULT_MAX_JOBS, DEFAULT_MAX_TRAIN_SECONDS, REPO_ROOT, default_threads, load_settings


def test_defaults():
    s = load_settings({})
    assert (s.threads, s.max_jobs, s.max_train_seconds) == (default_threads(), 2, 600.0)
    assert s.runs_dir == REPO_ROOT / "runs" and s.device == config.default_device() and s.warnings == []


def test_good_values(tmp_path):
    s = load_settings({"CNNVIZ_THREADS": "3", "CNNVIZ_MAX_JOBS": " 5 ", "CNNVIZ_MAX_TRAIN_SECONDS": "90.5",
                       "CNNVIZ_RUNS": str(tmp_path / "r"), "CNNVIZ_DEVICE": "CPU"})
    assert (s.threads, s.max_jobs, s.max_train_seconds, s.runs_dir, s.device) == (
        3, 5, 90.5, tmp_path / "r", "cpu")
    assert s.warnings == []


@pytest.mark.parametrize("name, field, default", [
    ("CNNVIZ_THREADS", "threads", default_threads()),
    ("CNNVIZ_MAX_JOBS", "max_jobs", DEFAULT_MAX_JOBS),
    ("CNNVIZ_MAX_TRAIN_SECONDS", "max_train_seconds", DEFAULT_MAX_TRAIN_SECONDS),
])
@pytest.mark.parametrize("value, code", [
    ("0", "err.env_zero"), ("x", None), ("two", None), ("-1", "err.env_out_of_range"),
    ("10min", None), ("-5", "err.env_out_of_range"), ("1e9", None), ("nan", None), ("99999999", "err.env_out_of_range"),
])
def test_bad_values_fall_back_with_a_warning(name, field, default, value, code):
    s = load_settings({name: value})
    assert getattr(s, field) == default
    assert len(s.warnings) == 1
    w = s.warnings[0]
    if code:
        assert w.code == code
    assert name in str(w) and "default" in str(w) and "défaut" in w.message("fr")
    if value == "0":
        assert "does not remove the limit" in str(w)


def test_zero_never_removes_the_limits():
    s = load_settings({"CNNVIZ_MAX_JOBS": "0", "CNNVIZ_MAX_TRAIN_SECONDS": "0"})
    assert s.max_jobs == DEFAULT_MAX_JOBS and s.max_train_seconds == DEFAULT_MAX_TRAIN_SECONDS > 0
    assert len(s.warnings) == 2


def test_bad_runs_folders(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for value, reason in [(str(a_file), "a file"), (str(REPO_ROOT / "checkpoints"), "shipped network"),
                          ("/proc/1/nope/runs", "cannot be created")]:
        s = load_settings({"CNNVIZ_RUNS": value})
        assert s.runs_dir == REPO_ROOT / "runs"
        assert len(s.warnings) == 1 and reason in str(s.warnings[0]), s.warnings


def test_bad_device():
    s = load_settings({"CNNVIZ_DEVICE": "tpu"})
    assert s.device == "cpu" and s.warnings[0].code == "err.env_device"


@pytest.mark.parametrize("gpu", [True, False], ids=["with CUDA", "without CUDA"])
def test_the_device_is_the_gpu_by_default_where_there_is_one(monkeypatch, gpu):
    """Issue 20, item 4: training, the test-set measures, top-9 and the shared maps run on CUDA when PyTorch sees
    a GPU, without any setting; CNNVIZ_DEVICE=cpu forces the CPU (availability mocked: this machine has none)."""
    import torch

    from cnnviz.training import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: int(gpu))
    monkeypatch.delenv("CNNVIZ_DEVICE", raising=False)
    expected = "cuda" if gpu else "cpu"
    assert config.default_device() == expected
    for env in ({}, {"CNNVIZ_DEVICE": ""}, {"CNNVIZ_DEVICE": "  "}):
        s = load_settings(env)
        assert (s.device, s.warnings) == (expected, []), env
    assert resolve_device() == (expected, [])  # what TrainingJob and the Training screen use
    for forced in ("cpu", "CPU", " cpu "):
        assert load_settings({"CNNVIZ_DEVICE": forced}).device == "cpu"
        assert resolve_device(forced) == ("cpu", [])
    cuda = load_settings({"CNNVIZ_DEVICE": "cuda:0"})
    assert (cuda.device, [w.code for w in cuda.warnings]) == (("cuda:0", []) if gpu else ("cpu", ["err.env_device_missing"]))


def test_warnings_are_logged_once(caplog):
    env = {"CNNVIZ_THREADS": "many-and-unique"}
    with caplog.at_level(logging.WARNING, logger="cnnviz.config"):
        load_settings(env)
        load_settings(env)
    assert [r.getMessage() for r in caplog.records].count(str(load_settings(env).warnings[0])) == 1
