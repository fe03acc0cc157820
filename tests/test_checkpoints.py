"""Checkpoints: round trip, refusal of pickled objects (without running them), truncated files, wrong architecture."""

import os
import pickle

import pytest
import torch

from cnnviz import CheckpointError
from cnnviz.checkpoints import SHIPPED, load_checkpoint, read_payload, save_checkpoint
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


def test_a_runs_payload_is_read_as_a_checkpoint_is(tmp_path, monkeypatch):
    # read_payload (the runs' summary, the timeline, the weight history) refuses what load_checkpoint refuses,
    # with the same reason, and runs nothing
    monkeypatch.chdir(tmp_path)
    torch.save({"format": "cnnviz-1", "meta": META, "x": Payload()}, tmp_path / "evil.pt")
    (tmp_path / "raw.pt").write_bytes(pickle.dumps(Payload()))
    good = save_checkpoint(tmp_path / "m.pt", CompactCNN(), "compact", META)
    (tmp_path / "half.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    torch.save([1, 2], tmp_path / "list.pt")
    codes = {}
    for name in ("evil.pt", "raw.pt", "half.pt", "list.pt"):
        with pytest.raises(CheckpointError) as by_payload:
            read_payload(tmp_path / name)
        with pytest.raises(CheckpointError) as by_load:
            load_checkpoint(tmp_path / name)
        assert by_payload.value.code == by_load.value.code
        codes[name] = by_payload.value.code
    assert codes == {"evil.pt": "err.ckpt_refused", "raw.pt": "err.ckpt_truncated", "half.pt": "err.ckpt_truncated",
                     "list.pt": "err.ckpt_not_cnnviz"}
    assert not (tmp_path / "PWNED").exists()
    assert read_payload(good)["arch"] == "compact"


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
    assert total < 4 * 1024 * 1024  # three networks (standard and two remedies) and the samples: ≤ 4 MB in all


# ---------------------------------------------------------------- runs/ is input too (issue 15, item 5)

from cnnviz.checkpoints import list_checkpoints, save_run, validate_meta  # noqa: E402


def small_checkpoint(path):
    return save_checkpoint(path, CompactCNN(), "compact", META)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("CNNVIZ_RUNS", str(folder))
    return folder


def test_dangling_and_outward_links_are_skipped_and_refused(runs, tmp_path):
    good = small_checkpoint(runs / "good.pt")
    (runs / "dangling.pt").symlink_to(runs / "gone.pt")
    (runs / "passwd.pt").symlink_to("/etc/passwd")
    outside = small_checkpoint(tmp_path / "elsewhere.pt")  # a valid checkpoint, but outside runs/
    (runs / "out.pt").symlink_to(outside)
    (runs / "inside.pt").symlink_to("good.pt")  # a link that stays inside is fine
    skipped = []
    listed = list_checkpoints(skipped)
    mine = [p for p in listed if p.parent == runs]
    assert sorted(p.name for p in mine) == ["good.pt", "inside.pt"]
    assert {p.name: e.code for p, e in skipped} == {
        "dangling.pt": "err.ckpt_missing", "passwd.pt": "err.ckpt_outside", "out.pt": "err.ckpt_outside"}
    with pytest.raises(CheckpointError, match="does not exist") as info:
        load_checkpoint(runs / "dangling.pt")
    assert info.value.code == "err.ckpt_missing"
    for name in ("passwd.pt", "out.pt"):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(runs / name)
        assert info.value.code == "err.ckpt_outside" and "/etc" not in str(info.value)
    assert load_checkpoint(good)[1]["dataset"] == "fashion-mnist"
    assert load_checkpoint(runs / "inside.pt")[1]["dataset"] == "fashion-mnist"


def test_file_deleted_while_listing(runs, monkeypatch):
    from cnnviz import checkpoints

    for i in range(3):
        small_checkpoint(runs / f"r{i}.pt")
    real = checkpoints._listable

    def vanish(path):  # another session deletes r1.pt between the glob and the check
        if path.name == "r1.pt":
            path.unlink(missing_ok=True)
        return real(path)

    monkeypatch.setattr(checkpoints, "_listable", vanish)
    skipped = []
    names = [p.name for p in list_checkpoints(skipped) if p.parent == runs]
    assert sorted(names) == ["r0.pt", "r2.pt"] and [p.name for p, _ in skipped] == ["r1.pt"]


@pytest.mark.parametrize("junk", [b"hello, I am a text file\n" * 20, b"GIF89a\x01\x00\x01\x00" + b"\x00" * 40,
                                  b"PK\x03\x04" + b"\x00" * 30, b"\x80\x02}q\x00.", b"\x00", b"PK\x03\x04"])
def test_junk_is_not_a_checkpoint(runs, junk):
    (runs / "junk.pt").write_bytes(junk)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(runs / "junk.pt")
    assert info.value.code in ("err.ckpt_truncated", "err.ckpt_refused")
    assert "not a checkpoint" in str(info.value) or "refused" in str(info.value)


BAD_META = [
    dict(META, test_accuracy="high"), dict(META, test_accuracy=None), dict(META, test_accuracy=7.0),
    dict(META, dataset="mnist"), dict(META, dataset=None), dict(META, classes=["a", "b", "c"]),
    dict(META, classes="0123456789"), dict(META, classes=list(range(10))),
    dict(META, input_shape=["1", "28", "28"]), dict(META, input_shape=[1, 28]), dict(META, input_shape=[1.0, 28, 28]),
    dict(META, input_shape=[3, 32, 32]), dict(META, input_shape=None), dict(META, input_shape=[True, 28, 28]),
]


@pytest.mark.parametrize("meta", BAD_META)
def test_bad_metadata_gives_checkpoint_error(tmp_path, meta):
    model = MLP((1, 28, 28), 10, hidden=(8,))
    path = tmp_path / "m.pt"
    torch.save({"format": "cnnviz-1", "arch": "mlp", "state_dict": model.state_dict(), "meta": meta}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert info.value.code.startswith("err.ckpt_meta") and "invalid metadata" in str(info.value)
    with pytest.raises(CheckpointError):
        validate_meta(meta)


def test_three_class_network_refused(tmp_path):
    model = MLP((1, 28, 28), 3, hidden=(8,))
    path = tmp_path / "m.pt"
    torch.save({"format": "cnnviz-1", "arch": "mlp", "state_dict": model.state_dict(),
                "meta": dict(META, classes=["a", "b", "c"])}, path)
    with pytest.raises(CheckpointError, match="10 class names"):
        load_checkpoint(path)
    torch.save({"format": "cnnviz-1", "arch": "mlp", "state_dict": model.state_dict(), "meta": META}, path)
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(path)
    torch.save({"format": "cnnviz-1", "arch": "nope", "state_dict": {}, "meta": META}, path)
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load_checkpoint(path)
    torch.save({"format": "cnnviz-1", "arch": "mlp", "state_dict": [1, 2], "meta": META}, path)
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(path)


def test_runs_never_collide(runs):
    model = MLP((1, 28, 28), 10, hidden=(8,))
    paths = {save_run(model, "mlp", META, tag="5") for _ in range(20)}  # same dataset, model, tag and second
    assert len(paths) == 20 and len(list(runs.glob("*.pt"))) == 20
    target = runs / "taken.pt"
    target.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        save_checkpoint(target, model, "mlp", META, exclusive=True)
    assert target.read_bytes() == b"someone else's"
    assert not [p for p in runs.iterdir() if p.name.endswith(".tmp")]


FUZZ_CASES = int(os.environ.get("CNNVIZ_FUZZ_CASES", "2000"))


def test_fuzz_load_checkpoint_only_raises_checkpoint_error(tmp_path):
    """Mutated checkpoints (truncations, byte flips, junk spliced in): only CheckpointError escapes."""
    import random
    from collections import Counter

    seeds = [small_checkpoint(tmp_path / "a.pt").read_bytes(),
             save_checkpoint(tmp_path / "b.pt", MLP(), "mlp", dict(META, seed=1)).read_bytes()]
    rng = random.Random(5)
    outcome = Counter()
    path = tmp_path / "fuzz.pt"
    for k in range(FUZZ_CASES):
        b = bytearray(seeds[k % 7 == 0])
        for _ in range(rng.randint(1, 3)):
            op, i = rng.randrange(5), rng.randrange(len(b))
            if op == 0:
                del b[rng.randrange(1, len(b) + 1):]
            elif op == 1:
                for _ in range(rng.randint(1, 6)):
                    b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            elif op == 2:
                b[i:i + 8] = bytes(rng.randrange(256) for _ in range(8))
            elif op == 3:
                b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
            else:
                del b[i:i + rng.randint(1, 40)]
            if not b:
                break
        path.write_bytes(bytes(b))
        try:
            load_checkpoint(path)
            outcome["opened"] += 1
        except CheckpointError as exc:
            outcome[exc.code] += 1
    print(f"\n{FUZZ_CASES} mutated checkpoints: {dict(outcome)}")
    assert sum(outcome.values()) == FUZZ_CASES and outcome["err.ckpt_truncated"] > 0


def test_unusable_runs_folder_falls_back(tmp_path, monkeypatch):
    from cnnviz.checkpoints import REPO_ROOT, SHIPPED_DIR, runs_dir

    monkeypatch.setenv("CNNVIZ_RUNS", str(SHIPPED_DIR))  # the shipped network's folder: never written
    assert runs_dir() == REPO_ROOT / "runs"
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path / "afile"))
    assert runs_dir() == REPO_ROOT / "runs"
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path / "mine"))
    assert runs_dir() == tmp_path / "mine"


# ---------------------------------------------------------------- issue 22: shipped names, FIFOs, odd names

def test_a_run_named_like_a_shipped_network_never_replaces_it(runs):
    """Item 1: the shipped networks first; a run with a shipped name (any case) is left out with its reason."""
    small_checkpoint(runs / "fashion_compact.pt")
    small_checkpoint(runs / "Fashion_Compact_Blur.pt")
    small_checkpoint(runs / "mine.pt")
    skipped = []
    listed = list_checkpoints(skipped)
    shipped = sorted(p.name for p in SHIPPED.parent.glob("*.pt"))
    assert [p.name for p in listed] == shipped + ["mine.pt"]
    assert all(p.parent == SHIPPED.parent for p in listed if p.name in shipped)
    assert {p.name: e.code for p, e in skipped} == {"fashion_compact.pt": "err.run_reserved",
                                                     "Fashion_Compact_Blur.pt": "err.run_reserved"}


def test_fifos_and_odd_names_are_not_offered(runs):
    """Item 5: a named pipe is never opened (open() would wait for a writer for ever); `..\\..\\evil.pt` is
    not a name a run may have."""
    import threading

    os.mkfifo(runs / "fifo.pt")
    small_checkpoint(runs / "..\\..\\evil.pt")
    box = {}
    thread = threading.Thread(target=lambda: box.update(listed=list_checkpoints(box.setdefault("skipped", []))),
                              daemon=True)
    thread.start()
    thread.join(10)
    try:
        assert not thread.is_alive(), "list_checkpoints blocked on a FIFO"
        assert not [p for p in box["listed"] if p.parent == runs]
        assert {p.name: e.code for p, e in box["skipped"]} == {"fifo.pt": "err.ckpt_not_file",
                                                               "..\\..\\evil.pt": "err.run_name"}
    finally:  # unblock a reader stuck in open() (before the fix)
        try:
            os.close(os.open(runs / "fifo.pt", os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
