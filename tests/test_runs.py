"""cnnviz.runs: saved runs listed with their settings and history, renamed (never over another file), deleted
(only in the runs folder), exported as a .zip whose net.py loads the checkpoint's weights; cnnviz.figures_runs."""

import io
import os
import runpy
import zipfile

import numpy as np
import pytest
import torch

from cnnviz.checkpoints import SHIPPED, SHIPPED_DIR, load_checkpoint
from cnnviz.data import FASHION_MNIST_CLASSES, Dataset
from cnnviz.figures_runs import compare_figure, conv1_maps, epoch_figure
from cnnviz.runs import (
    RunError,
    check_name,
    delete_run,
    export_zip,
    layers_text,
    list_runs,
    net_code,
    rename_run,
    summary,
)
from cnnviz.training import TrainConfig, TrainingJob


def synthetic(split: str, n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)
    return Dataset("fashion-mnist", split, images, labels, FASHION_MNIST_CLASSES, "synthetic")


TRAIN, TEST = synthetic("train", 320), synthetic("test", 100, seed=1)
NET = {"input_shape": [1, 28, 28], "fc_width": 16, "num_classes": 10, "dropout": 0.3,
       "convs": [{"out_channels": 4, "kernel": 3, "padding": 1, "pool": True, "batchnorm": True},
                 {"out_channels": 6, "kernel": 5, "padding": 0, "pool": False, "batchnorm": True}]}


def train_run(folder, owner=None, **kw) -> str:
    cfg = dict(arch="convnet", net=NET, batch_size=64, epochs=2, val_fraction=0.1, eval_limit=50, **kw)
    job = TrainingJob(TrainConfig(**cfg), TRAIN, TEST, runs_dir=folder, owner=owner)
    job.run()
    return job.save()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    a, b = train_run(folder, lr=0.05), train_run(folder, lr=0.2)
    return folder, a, b


@pytest.mark.parametrize("name, expected", [
    ("lr 0.1", "lr 0.1.pt"), ("run_1.pt", "run_1.pt"), ("A-b.c", "A-b.c.pt"), ("  x1  ", "x1.pt")])
def test_plain_names_are_accepted(name, expected):
    assert check_name(name) == expected


@pytest.mark.parametrize("name", ["", ".pt", "../x", "a/b", "a\\b", "..", "x..y", ".hidden", "-x", "<script>",
                                  "![x](http://e/x.png)", "é", "a" * 200, "a\nb", None, 3])
def test_other_names_are_refused(name):
    with pytest.raises(RunError) as info:
        check_name(name)
    assert info.value.code == "err.run_name"


def test_list_runs_gives_settings_and_history(runs):
    folder, a, b = runs
    (folder / "junk.pt").write_bytes(b"not a checkpoint")
    found, skipped = list_runs(folder)
    assert {r.name for r in found} == {a.name, b.name} and [n for n, _ in skipped] == ["junk.pt"]
    s = summary(a)
    assert s.arch == "convnet" and s.dataset == "fashion-mnist"
    assert s.settings["lr"] == 0.05 and s.settings["val"] == 0.1 and s.settings["batch"] == 64
    assert s.settings["layers"] == "4-3-1-1;6-5-0-0" and s.settings["fc"] == 16 and s.settings["bn"] is True
    assert [h["epoch"] for h in s.history] == [1, 2] and all(h["val_accuracy"] is not None for h in s.history)
    assert layers_text(None) == ""
    (folder / "junk.pt").unlink()


def test_rename_never_overwrites_and_delete_stays_in_the_runs_folder(tmp_path):
    a, b = train_run(tmp_path, max_steps=1), train_run(tmp_path, max_steps=1, seed=1)
    bytes_b = b.read_bytes()
    with pytest.raises(RunError) as info:
        rename_run(a.name, b.name, tmp_path)
    assert info.value.code == "err.run_exists" and a.exists() and b.read_bytes() == bytes_b
    new = rename_run(a.name, "my run", tmp_path)
    assert new == tmp_path / "my run.pt" and new.exists() and not a.exists()
    load_checkpoint(new)  # still a valid run
    for bad in ("../outside", "sub/x"):
        with pytest.raises(RunError):
            rename_run(new.name, bad, tmp_path)
    with pytest.raises(RunError) as info:
        delete_run("../" + b.name, tmp_path)
    assert info.value.code == "err.run_name" and b.exists()
    with pytest.raises(RunError) as info:
        delete_run("missing.pt", tmp_path)
    assert info.value.code == "err.run_missing"
    with pytest.raises(RunError) as info:
        delete_run(SHIPPED.name, SHIPPED_DIR)  # the shipped network is never touched
    assert info.value.code == "err.run_shipped" and SHIPPED.exists()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.pt"
    outside.write_bytes(b"keep me")
    os.symlink(outside, tmp_path / "link.pt")
    delete_run("link.pt", tmp_path)  # the link goes, not what it points to
    assert outside.read_bytes() == b"keep me" and not (tmp_path / "link.pt").exists()
    outside.unlink()
    delete_run(new.name, tmp_path)
    assert not new.exists() and b.exists()
    assert str(RunError("err.run_exists", name="x.pt").message("fr")).startswith("Un entraînement")


def test_export_zip_holds_the_checkpoint_code_and_readme(runs, tmp_path):
    _, a, _ = runs
    data = export_zip(a, lang="fr")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sorted(z.namelist()) == sorted([a.name, "net.py", "README.md"])
        z.extractall(tmp_path)
        readme = z.read("README.md").decode()
    assert "from net import Net" in readme and a.name in readme and "exactitude" in readme
    assert (tmp_path / a.name).read_bytes() == a.read_bytes()
    # the notebook's way: net.py alone, the checkpoint's state_dict loaded as it is
    ns = runpy.run_path(str(tmp_path / "net.py"))
    net = ns["Net"]()
    net.load_state_dict(torch.load(tmp_path / a.name, weights_only=True)["state_dict"])
    net.eval()
    model, _ = load_checkpoint(a)
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    torch.testing.assert_close(net(x), model(x))


@pytest.mark.parametrize("arch", ["compact", "compact_blur", "mlp"])
def test_net_code_of_every_shipped_architecture_loads_its_weights(arch):
    from cnnviz.models import build_model

    model = build_model(arch, (1, 28, 28), 10).eval()
    ns = {}
    exec(compile(net_code(model), "net.py", "exec"), ns)
    net = ns["Net"]().eval()
    net.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(net(x), model(x))


def test_shipped_checkpoint_exports():
    data = export_zip(SHIPPED)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "nn.BatchNorm2d(32)" in z.read("net.py").decode()


def test_figures_of_runs_in_french():
    hist = [dict(epoch=1, train_loss=1.0, val_loss=0.9, val_accuracy=0.7, test_accuracy=0.68),
            dict(epoch=2, train_loss=0.6, val_loss=0.7, val_accuracy=0.8, test_accuracy=None)]
    fig = epoch_figure(hist, lang="fr")
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["Coût par époque (tirets\u00a0: validation)", "Exactitude de validation"]
    assert [tr.name for tr in fig.data] == ["Coût d'entraînement", "Coût de validation", "Exactitude de validation",
                                            "Exactitude sur l'ensemble de test (échantillon)"]
    assert list(fig.data[3].x) == [1]  # an epoch without a measure is left out
    two = compare_figure([("a", hist), ("b", hist[:1])], lang="en")
    assert len(two.data) == 6 and [d.name for d in two.data if d.showlegend is not False] == ["a", "b"]
    assert two.layout.yaxis2.range == pytest.approx((0.65, 0.85))  # the accuracies shown, ± 5 points, within [0, 1]


def test_conv1_maps_match_the_network():
    from cnnviz.models import CompactCNN

    model = CompactCNN().eval()
    conv = model.stages["conv1"]
    image = TEST.images[0]
    maps = conv1_maps(conv.weight.detach().numpy(), conv.bias.detach().numpy(), image, padding=1)
    x = torch.from_numpy(image.astype(np.float32) / 127.5 - 1)[None, None]
    np.testing.assert_allclose(maps, conv(x).detach().numpy()[0], atol=1e-5)


# ---------------------------------------------------------------- issue 22: shipped names, what runs/ holds

@pytest.mark.parametrize("name", ["fashion_compact", "fashion_compact.pt", "Fashion_Compact", "FASHION_COMPACT.PT",
                                  "fashion_compact_blur", "fashion_compact_shift.pt", " fashion_compact_Shift ",
                                  "fashion_compact.pt.pt"])
def test_shipped_names_are_reserved(name):
    """Item 1: a run named like a shipped network would replace it in every picker."""
    with pytest.raises(RunError) as info:
        check_name(name)
    assert info.value.code == "err.run_reserved"
    assert "shipped" in str(info.value) and "réseau fourni" in info.value.message("fr")
    assert "\u00a0:" in info.value.message("fr")


def test_a_run_cannot_be_renamed_to_a_shipped_name(tmp_path):
    a = train_run(tmp_path, max_steps=1)
    for new in ("fashion_compact", "Fashion_Compact_Blur.pt"):
        with pytest.raises(RunError) as info:
            rename_run(a.name, new, tmp_path)
        assert info.value.code == "err.run_reserved"
    assert [p.name for p in tmp_path.glob("*.pt")] == [a.name]
    assert check_name("fashion_compact_2") == "fashion_compact_2.pt"  # only the shipped names themselves


def finishes(fn, seconds: float = 10.0):
    """fn() in a thread that must end within `seconds` (a FIFO would block open() for ever): its result or error."""
    import threading

    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn} blocked for {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture
def fifo(tmp_path):
    """runs/fifo.pt, a named pipe; on teardown a writer opens and closes it, so a reader blocked in open() ends."""
    folder = tmp_path / "fifo_runs"
    folder.mkdir()
    path = folder / "fifo.pt"
    os.mkfifo(path)
    yield path
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def test_a_fifo_in_the_runs_folder_never_blocks(fifo, runs):
    """Item 5: open() of a named pipe waits for a writer for ever; only regular files are opened."""
    from cnnviz import CheckpointError
    from cnnviz.runs import read_meta

    _, a, _ = runs
    good = fifo.parent / "good.pt"
    good.write_bytes(a.read_bytes())
    found, skipped = finishes(lambda: list_runs(fifo.parent))
    assert [r.name for r in found] == ["good.pt"] and [n for n, _ in skipped] == ["fifo.pt"]
    for read in (load_checkpoint, summary, read_meta, export_zip):
        with pytest.raises(CheckpointError) as info:
            finishes(lambda read=read: read(fifo))
        assert info.value.code == "err.ckpt_not_file" and str(fifo.parent) not in str(info.value)


def test_names_found_on_disk_are_checked_like_typed_names(runs, tmp_path):
    """Item 5: a file named `..\\..\\evil.pt` is not offered, and an export's zip members are plain names."""
    _, a, _ = runs
    folder = tmp_path / "odd"
    folder.mkdir()
    for name in ("..\\..\\evil.pt", "fashion_compact.pt", "ok.pt"):
        (folder / name).write_bytes(a.read_bytes())
    found, skipped = list_runs(folder)
    assert [r.name for r in found] == ["ok.pt"]
    assert {n: e.code for n, e in skipped} == {"..\\..\\evil.pt": "err.run_name",
                                                "fashion_compact.pt": "err.run_reserved"}
    with pytest.raises(RunError) as info:
        export_zip(folder / "..\\..\\evil.pt")
    assert info.value.code == "err.run_name"
    with zipfile.ZipFile(io.BytesIO(export_zip(folder / "ok.pt"))) as z:
        assert sorted(z.namelist()) == ["README.md", "net.py", "ok.pt"]


# ---------------------------------------------------------------- issue 22 items 3 and 4: owners, races, one name

def test_two_sessions_renaming_one_run_leave_it_under_exactly_one_name(tmp_path, monkeypatch):
    """Item 4: os.link + unlink left the run under both names in 18 of 200 rounds; one rename wins now. Each file
    system call of a rename is followed by a short pause, so that the two sessions' calls interleave as they do
    between two processes."""
    import threading
    import time

    for name in ("link", "rename", "open"):
        def slow(*a, real=getattr(os, name), **k):
            out = real(*a, **k)
            time.sleep(0.001)
            return out
        monkeypatch.setattr(os, name, slow)
    payload = b"PK\x03\x04 a run"
    both = losers = 0
    for i in range(200):
        (tmp_path / f"run{i}.pt").write_bytes(payload)
        barrier, results = threading.Barrier(2), {}

        def rename(to, i=i, barrier=barrier, results=results):
            barrier.wait()
            try:
                results[to] = rename_run(f"run{i}.pt", f"{to}{i}", tmp_path)
            except RunError as exc:
                results[to] = exc

        threads = [threading.Thread(target=rename, args=(to,)) for to in ("a", "b")]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        names = sorted(p.name for p in tmp_path.glob(f"*{i}.pt"))
        won = [to for to, r in results.items() if not isinstance(r, RunError)]
        assert len(names) == 1 and len(won) == 1 and names == [f"{won[0]}{i}.pt"], (i, names, results)
        loser = next(r for r in results.values() if isinstance(r, RunError))
        assert loser.code in ("err.run_missing", "err.run_exists")
        assert (tmp_path / names[0]).read_bytes() == payload  # the run itself, never an empty placeholder
        both += len(names) > 1
        losers += 1
    assert both == 0 and losers == 200
    assert not [p for p in tmp_path.iterdir() if not p.name.endswith(".pt")]


def test_a_run_belongs_to_the_browser_that_trained_it(tmp_path):
    """Item 3: only its owner, or the instructor, renames or deletes a run; the server's runs need the instructor."""
    from cnnviz.runs import Requester, owner_id, run_owner

    alice, bob = owner_id("alice's token"), owner_id("bob's token")
    assert len(alice) == 32 and alice != bob and owner_id("alice's token") == alice
    run = train_run(tmp_path, max_steps=1, owner=alice)
    server = train_run(tmp_path, max_steps=1, seed=1)
    assert run_owner(run) == alice and run_owner(server) is None and summary(run).owner == alice
    assert b"alice's token" not in run.read_bytes()  # a hash, never the token
    for act in (lambda: rename_run(run.name, "bobs now", tmp_path, by=Requester(bob)),
                lambda: delete_run(run.name, tmp_path, by=Requester(bob)),
                lambda: delete_run(server.name, tmp_path, by=Requester(alice)),
                lambda: rename_run(run.name, "x", tmp_path, by=Requester(None))):
        with pytest.raises(RunError) as info:
            act()
        assert info.value.code == "err.run_not_yours"
        assert "n'est pas votre entraînement\u00a0:" in info.value.message("fr")
    assert run.exists() and server.exists()
    moved = rename_run(run.name, "alice 1", tmp_path, by=Requester(alice))
    assert run_owner(moved) == alice
    delete_run(server.name, tmp_path, by=Requester(bob, instructor=True))
    delete_run(moved.name, tmp_path, by=Requester(alice))
    assert not list(tmp_path.glob("*.pt"))


def test_the_readme_states_the_run_s_one_accuracy_and_what_it_was_measured_on(runs, tmp_path):
    """Item 10: the README, the run's metadata and a plain PyTorch evaluation of the exported weights agree."""
    _, a, _ = runs
    _, meta = load_checkpoint(a)
    assert meta["test_images"] == len(TEST) and meta["steps"] == 10
    with zipfile.ZipFile(io.BytesIO(export_zip(a, lang="fr"))) as z:
        z.extractall(tmp_path)
        readme = z.read("README.md").decode()
    net = runpy.run_path(str(tmp_path / "net.py"))["Net"]()
    net.load_state_dict(torch.load(tmp_path / a.name, weights_only=True)["state_dict"])
    net.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.array(TEST.images)).float().div(255).sub(0.5).div(0.5).unsqueeze(1)
        plain = float((net(x).argmax(1).numpy() == TEST.labels).mean())
    assert plain == pytest.approx(meta["test_accuracy"])
    figure = f"{plain * 100:.2f}".replace(".", ",") + "\u00a0%"
    assert f"exactitude {figure} sur les 100 images de l'ensemble de test (après 10 lots)" in readme
