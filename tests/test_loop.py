"""The course's loop as plain functions (cnnviz.loop), each checked against torch / scikit-learn / a formula, without
threads; and the training job is exactly that loop."""

import threading

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score
from torch import nn

from cnnviz.data import FASHION_MNIST_CLASSES, Dataset, to_tensor
from cnnviz.evaluate import EvaluationCancelled
from cnnviz.loop import (
    LOSSES,
    augment,
    epoch_batches,
    gather,
    loss_and_accuracy,
    make_criterion,
    sgd_step,
    split_rows,
)
from cnnviz.models import build_model
from cnnviz.training import TrainConfig, TrainingJob


def synthetic(n: int, seed: int = 0, rgb: bool = False) -> Dataset:
    rng = np.random.default_rng(seed)
    shape = (n, 32, 32, 3) if rgb else (n, 28, 28)
    images, labels = rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return Dataset("cifar10" if rgb else "fashion-mnist", "train", images, labels, FASHION_MNIST_CLASSES, "synthetic")


DATA = synthetic(640)


@pytest.mark.parametrize("name, reference", [
    ("cross-entropy", lambda out, y: nn.CrossEntropyLoss()(out, y)),
    ("mse", lambda out, y: nn.MSELoss()(out, nn.functional.one_hot(y, 10).float())),
    ("l1", lambda out, y: nn.L1Loss()(out, nn.functional.one_hot(y, 10).float())),
])
def test_criteria_are_torch_s(name, reference):
    out, y = torch.randn(7, 10), torch.randint(0, 10, (7,))
    torch.testing.assert_close(make_criterion(name, 10)(out, y), reference(out, y))
    assert set(LOSSES) == {"cross-entropy", "mse", "l1"}


def test_split_rows_is_disjoint_seeded_and_never_empty():
    train, val = split_rows(1000, subset=500, val_fraction=0.2, seed=4)
    assert len(train) == 400 and len(val) == 100 and not set(train) & set(val)
    assert (np.diff(train) > 0).all() and (np.diff(val) > 0).all() and train.max() < 1000
    again = split_rows(1000, subset=500, val_fraction=0.2, seed=4)
    assert (again[0] == train).all() and (again[1] == val).all()
    other = split_rows(1000, subset=500, val_fraction=0.2, seed=5)
    assert set(other[0]) != set(train)
    everything, none = split_rows(300)
    assert (everything == np.arange(300)).all() and none.size == 0
    assert len(split_rows(300, subset=300)[0]) == 300 and len(split_rows(300, subset=10**6)[0]) == 300  # all rows
    one_left, held = split_rows(2, val_fraction=0.5)
    assert len(one_left) == 1 and len(held) == 1
    assert len(split_rows(1, val_fraction=0.5)[0]) == 1  # at least one row is trained on


def test_epoch_batches_cover_each_row_once_and_resume_exactly():
    rows = np.arange(100, 200)
    batches = list(epoch_batches(rows, 32, seed=1, epoch=0))
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    assert sorted(np.concatenate(batches)) == list(rows)
    assert [b.tolist() for b in epoch_batches(rows, 32, seed=1, epoch=0)] == [b.tolist() for b in batches]
    assert [b.tolist() for b in epoch_batches(rows, 32, seed=1, epoch=0, start=2)] == [b.tolist() for b in batches[2:]]
    assert np.concatenate(list(epoch_batches(rows, 32, seed=1, epoch=1))).tolist() != np.concatenate(batches).tolist()


@pytest.mark.parametrize("rgb", [False, True])
def test_gather_normalises_like_to_tensor(rgb):
    data = synthetic(50, rgb=rgb)
    rows = np.array([3, 7, 7, 49])
    x, y = gather(data.images, data.labels, rows)
    assert x.shape == ((4, 3, 32, 32) if rgb else (4, 1, 28, 28)) and x.dtype == torch.float32
    torch.testing.assert_close(x, to_tensor(data.images[rows]), rtol=0, atol=0)
    assert y.dtype == torch.int64 and y.tolist() == data.labels[rows].tolist()
    assert -1 <= x.min() and x.max() <= 1


def test_augment_flips_some_images_and_nothing_else():
    x = to_tensor(DATA.images[:64])
    assert augment(x.clone()).equal(x)
    torch.manual_seed(0)
    out = augment(x.clone(), flip=True)
    flipped = [bool(out[i].equal(x[i].flip(-1))) for i in range(64)]
    assert all(flipped[i] or out[i].equal(x[i]) for i in range(64)) and 10 < sum(flipped) < 54


def test_sgd_step_is_the_update_formula_with_momentum():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    lr, mu = 0.1, 0.9
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=mu)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))

    def grad(w, b):  # the gradient of the mean cross-entropy, by autograd on a copy
        w, b = w.clone().requires_grad_(), b.clone().requires_grad_()
        loss = nn.functional.cross_entropy(x @ w.T + b, y)
        return loss.item(), torch.autograd.grad(loss, (w, b))

    loss0, (gw, gb) = grad(w0, b0)
    assert sgd_step(model, optimizer, nn.functional.cross_entropy, x, y) == pytest.approx(loss0)
    w1, b1 = w0 - lr * gw, b0 - lr * gb  # first step: the velocity is the gradient
    torch.testing.assert_close(model.weight.detach(), w1)
    loss1, (gw1, gb1) = grad(w1, b1)
    assert sgd_step(model, optimizer, nn.functional.cross_entropy, x, y) == pytest.approx(loss1)
    torch.testing.assert_close(model.weight.detach(), w1 - lr * (mu * gw + gw1))  # v = mu·v + g; w -= lr·v
    torch.testing.assert_close(model.bias.detach(), b1 - lr * (mu * gb + gb1))


def test_sgd_step_leaves_the_weights_when_the_loss_is_not_finite():
    model = nn.Linear(5, 3)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.full((4, 5), float("inf"))
    assert not np.isfinite(sgd_step(model, optimizer, nn.functional.cross_entropy, x, torch.zeros(4, dtype=torch.long)))
    assert all(p.equal(q) for p, q in zip(model.parameters(), before))



def test_a_divergence_falls_back_to_the_weights_before_the_last_checked_finite_step():
    """TrainingJob's rollback (cnnviz.training.LastGoodWeights), without a thread: a copy before every `every`-th
    step, kept once that step's loss is finite; a step whose loss is not finite brings the kept copy back."""
    from cnnviz.training import LastGoodWeights

    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    w0 = model.weight.detach().clone()
    good = LastGoodWeights(model, every=2)
    for step in range(2):  # step 0 is copied (and finite), step 1 is not copied
        good.before_step(model, step)
        assert np.isfinite(sgd_step(model, optimizer, nn.functional.cross_entropy, x, y))
        good.finite()
    w2 = model.weight.detach().clone()
    assert not w2.equal(w0) and good.state["weight"].equal(w0)
    good.before_step(model, 2)  # copied, but its loss is not finite: never kept
    assert not np.isfinite(sgd_step(model, optimizer, nn.functional.cross_entropy, x * float("inf"), y))
    good.restore(model)
    assert model.weight.detach().equal(w0)


def test_the_weight_history_keeps_independent_copies_within_its_bound(monkeypatch):
    """TrainingJob's weights for the landscape path (cnnviz.training.WeightHistory), without a thread: each take is
    a copy that later steps do not change; a network whose epochs + 1 copies exceed WEIGHT_HISTORY_BYTES keeps none."""
    from cnnviz import training

    torch.manual_seed(0)
    model = nn.Linear(5, 3)  # 18 float32 values: 72 bytes a copy
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    history = training.WeightHistory(model, epochs=2)
    assert history.keeps and history.states() is None
    history.take(model)
    sgd_step(model, optimizer, nn.functional.cross_entropy, x, y)
    history.take(model)
    first, second = history.states()
    assert not first["weight"].equal(second["weight"]) and second["weight"].equal(model.weight.detach())
    monkeypatch.setattr(training, "WEIGHT_HISTORY_BYTES", 72 * 3 - 1)  # 3 copies (2 epochs + the start) do not fit
    none = training.WeightHistory(model, epochs=2)
    none.take(model)
    assert not none.keeps and none.states() is None
    assert training.WeightHistory(model, epochs=1).keeps  # 2 copies: 144 bytes fit

def test_loss_and_accuracy_are_scikit_learn_s_and_torch_s():
    torch.manual_seed(0)
    model = build_model("mlp", (1, 28, 28), 10).train()
    images, labels = DATA.images[:300], DATA.labels[:300]
    loss, acc = loss_and_accuracy(model, images, labels, make_criterion("cross-entropy", 10))
    assert model.training  # back in training mode
    model.eval()
    with torch.no_grad():
        logits = model(to_tensor(images))
    assert acc == pytest.approx(accuracy_score(labels, logits.argmax(1).numpy()))
    assert loss == pytest.approx(float(nn.functional.cross_entropy(logits, torch.from_numpy(labels.copy()))), rel=1e-5)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EvaluationCancelled):
        loss_and_accuracy(model, images, labels, make_criterion("mse", 10), cancel)



def test_the_test_phase_is_scikit_learn_s_report_with_its_progress():
    """cnnviz.evaluate.evaluate, the test phase a TrainingJob runs for its saved run, without any thread: the
    report of the network's argmax is scikit-learn's, and `progress` hears of every chunk before it runs."""
    from sklearn.metrics import confusion_matrix

    from cnnviz.evaluate import evaluate

    torch.manual_seed(0)
    model = build_model("mlp", (1, 28, 28), 10).train()
    seen = []
    report = evaluate(model, DATA, limit=250, batch_size=100, progress=lambda done, n: seen.append((done, n)))
    assert seen == [(0, 250), (100, 250), (200, 250)] and model.training
    model.eval()
    with torch.no_grad():
        pred = model(to_tensor(DATA.images[:250])).argmax(1).numpy()  # (250,)
    assert np.array_equal(report.y_pred, pred) and np.array_equal(report.y_true, DATA.labels[:250])
    assert report.accuracy == pytest.approx(accuracy_score(DATA.labels[:250], pred))
    assert np.array_equal(report.confusion, confusion_matrix(DATA.labels[:250], pred, labels=list(range(10))))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EvaluationCancelled):
        evaluate(model, DATA, cancel=cancel)

def test_the_training_job_runs_exactly_the_plain_loop():
    """The docstring's loop, written out with the functions, gives the job's weights to the bit."""
    cfg = TrainConfig(arch="mlp", epochs=2, batch_size=64, lr=0.05, momentum=0.9, seed=3, val_fraction=0.1,
                      eval_each_epoch=False)
    job = TrainingJob(cfg, DATA)
    job.run()

    torch.manual_seed(3)
    model = build_model("mlp", (1, 28, 28), 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    criterion = make_criterion("cross-entropy", 10)
    train_rows, val_rows = split_rows(len(DATA), 0, 0.1, seed=3)
    for epoch in range(2):
        for rows in epoch_batches(train_rows, 64, seed=3, epoch=epoch):
            x, y = gather(DATA.images, DATA.labels, rows)
            sgd_step(model, optimizer, criterion, x, y)
    for p, q in zip(job.model.parameters(), model.parameters()):
        assert p.equal(q)
    val_loss, val_acc = loss_and_accuracy(model, DATA.images[val_rows], DATA.labels[val_rows], criterion)
    assert job.progress.history[-1]["val_loss"] == val_loss and job.progress.history[-1]["val_accuracy"] == val_acc
