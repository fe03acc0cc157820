"""How the network learns, checked against torch and formulas: one image's costs and their logit gradients, a
batch's cost, the full and per-example gradients (hand-written autograd), the batch gradient as an unbiased
estimate on the shipped network and real Fashion-MNIST training images, the loss landscape, and SGD with
momentum on the toy costs (torch.optim.SGD and a hand-written update)."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnviz import CnnvizError, descent, landscape
from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import to_tensor
from cnnviz.gradients import (
    PerExample,
    batch_cost,
    batch_gradient_study,
    image_cost,
    parameter_names,
    per_example_gradients,
    study_batches,
    training_subset,
)


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(SHIPPED)


@pytest.fixture(scope="module")
def subset(fmnist_train):
    idx = training_subset(len(fmnist_train), 5000)
    return fmnist_train.images[idx], fmnist_train.labels[idx]


@pytest.fixture(scope="module")
def conv1_per_example(shipped, subset):
    return per_example_gradients(shipped[0], *subset, "conv1.weight")


def snapshot(model):
    """Everything about a model a computation could change: tensors, flags, mode, hooks."""
    return ({k: v.clone() for k, v in model.state_dict().items()}, [p.requires_grad for p in model.parameters()],
            [m.training for m in model.modules()], [len(m._forward_hooks) for m in model.modules()])


def same(a, b) -> bool:
    return all(torch.equal(a[0][k], b[0][k]) for k in a[0]) and a[1:] == b[1:]


def autograd_gradient(model, images, labels, param: str) -> np.ndarray:
    """The reference: the mean cross-entropy's gradient by torch's autograd on a copy in evaluation mode."""
    net = copy.deepcopy(model).eval()
    weight = dict(net.named_parameters())[f"stages.{param}"]
    weight.requires_grad_(True)
    loss = F.cross_entropy(net(to_tensor(images)), torch.tensor(np.asarray(labels)))
    loss.backward()
    return weight.grad.double().numpy()


# ---------------------------------------------------------------- one image, one batch

@pytest.mark.parametrize("compared", ["probs", "logits"])
def test_image_costs_and_their_logit_gradients_match_torch(compared):
    rng = np.random.default_rng(0)
    cases = [(rng.normal(0, s, 10), int(rng.integers(10))) for s in (0.1, 1, 3, 8) for _ in range(25)]
    cases.append((np.array([0.0] * 9 + [14.0]), 3))  # a confident mistake
    for logits, label in cases:
        got = image_cost(logits, label, compared)
        for name, loss_fn in (("cross-entropy", None), ("mse", F.mse_loss), ("l1", F.l1_loss)):
            z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
            if loss_fn is None:
                cost = F.cross_entropy(z[None], torch.tensor([label]))
            else:
                y = torch.softmax(z, 0) if compared == "probs" else z
                cost = loss_fn(y, F.one_hot(torch.tensor(label), 10).double())
            cost.backward()
            assert got.costs[name] == pytest.approx(cost.item(), rel=1e-9, abs=1e-12), name
            np.testing.assert_allclose(got.grads[name], z.grad.numpy(), rtol=1e-7, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got.probs, torch.softmax(torch.tensor(logits), 0).numpy(), rtol=1e-12)


def test_cross_entropy_pushes_a_confident_mistake_that_mse_barely_corrects():
    cost = image_cost(np.array([0.0] * 9 + [14.0]), 3)  # class 9 at 99.99 %, the truth is class 3
    assert cost.grads["cross-entropy"][3] == pytest.approx(-1.0, abs=1e-5)
    assert abs(cost.grads["mse"][3]) < 1e-5 and abs(cost.grads["l1"][3]) < 1e-5
    right = image_cost(np.array([0.0] * 9 + [14.0]), 9)  # the same output, right: nothing to correct
    assert np.abs(right.grads["cross-entropy"]).max() < 1e-5


def test_a_batch_cost_is_the_summed_cross_entropy_and_the_log_likelihood(shipped, fmnist_train):
    model, _ = shipped
    images, labels = fmnist_train.images[:16], fmnist_train.labels[:16]
    got = batch_cost(model, images, labels)
    with torch.no_grad():
        logits = model(to_tensor(images))
    expected = F.cross_entropy(logits, torch.tensor(np.asarray(labels)), reduction="sum").item()
    assert got.total == pytest.approx(expected, rel=1e-5)
    p = torch.softmax(logits.double(), 1)[torch.arange(16), torch.tensor(np.asarray(labels))].numpy()
    np.testing.assert_allclose(got.probs_true, p, rtol=1e-5)
    assert got.likelihood == pytest.approx(np.prod(p), rel=1e-4)  # the product of independent probabilities
    assert got.log_likelihood == pytest.approx(np.log(p).sum(), rel=1e-5)


# ---------------------------------------------------------------- the full gradient and per-example gradients

@pytest.mark.parametrize("param", ["conv1.weight", "conv1.bias", "bn1.weight", "bn2.bias", "conv2.weight",
                                   "fc1.weight", "fc2.weight", "fc2.bias"])
def test_the_full_gradient_equals_autograd(shipped, fmnist_train, param):
    model, _ = shipped
    images, labels = fmnist_train.images[:300], fmnist_train.labels[:300]
    per = per_example_gradients(model, images, labels, param, chunk=128)  # chunks: 128, 128, 44
    expected = autograd_gradient(model, images, labels, param)
    assert per.full.reshape(expected.shape).shape == expected.shape
    np.testing.assert_allclose(per.full.reshape(expected.shape), expected, rtol=2e-4,
                               atol=2e-6 * np.abs(expected).max())


def test_each_row_is_one_images_gradient_and_a_batch_gradient_is_their_mean(shipped, fmnist_train):
    model, _ = shipped
    images, labels = fmnist_train.images[100:140], fmnist_train.labels[100:140]
    per = per_example_gradients(model, images, labels, "conv2.weight")
    for i in (0, 17, 39):
        one = autograd_gradient(model, images[i:i + 1], labels[i:i + 1], "conv2.weight").ravel()
        np.testing.assert_allclose(per.grads[i], one, rtol=2e-4, atol=2e-6 * np.abs(one).max())
    batch = [3, 8, 21, 30, 33]
    expected = autograd_gradient(model, images[batch], labels[batch], "conv2.weight").ravel()
    np.testing.assert_allclose(per.grads[batch].mean(0), expected, rtol=2e-4, atol=2e-6 * np.abs(expected).max())


def test_the_cached_model_is_left_as_it_was(shipped, fmnist_train):
    model, _ = shipped
    before = snapshot(model)
    per_example_gradients(model, fmnist_train.images[:50], fmnist_train.labels[:50], "bn1.weight")
    landscape.loss_line(model, fmnist_train.images[:20], fmnist_train.labels[:20],
                        landscape.random_direction(model, 0), [-0.5, 0.5])
    assert same(before, snapshot(model))


def test_a_network_in_training_mode_is_studied_in_evaluation_mode(shipped, fmnist_train):
    model, _ = shipped
    training = copy.deepcopy(model).train()  # dropout on, batch norm on batch statistics
    images, labels = fmnist_train.images[:64], fmnist_train.labels[:64]
    a = per_example_gradients(model, images, labels, "fc1.bias").full
    b = per_example_gradients(training, images, labels, "fc1.bias").full
    np.testing.assert_array_equal(a, b)
    assert training.training  # and the caller's model keeps its mode


def test_parameter_names_and_refusals(shipped, fmnist_train):
    model, _ = shipped
    names = parameter_names(model)
    assert names[:3] == ["conv1.weight", "conv1.bias", "bn1.weight"] and "fc2.bias" in names
    assert "fc1.weight" not in parameter_names(model, max_size=2048)
    x, y = fmnist_train.images[:8], fmnist_train.labels[:8]
    with pytest.raises(CnnvizError) as info:
        per_example_gradients(model, x, y, "conv9.weight")
    assert info.value.code == "err.grad_param_unknown"
    with pytest.raises(CnnvizError) as info:
        per_example_gradients(model, np.zeros((600, 28, 28), np.uint8), np.zeros(600, int), "fc1.weight")
    assert info.value.code == "err.grad_too_large"  # 600 images × 147,456 numbers
    with pytest.raises(CnnvizError) as info:
        batch_gradient_study(model, x, y, batch_sizes=(1, 16), draws=5)
    assert info.value.code == "err.grad_batch_sizes" and "8" in info.value.message("fr")


# ---------------------------------------------------------------- the batch gradient: an unbiased estimate

def test_batches_without_replacement_have_the_formulas_mean_and_variance():
    """On made-up per-example gradients: the mean of many batch gradients is the full gradient, and their variance
    is σ²/|B|·(N−|B|)/(N−1) — what drawing without replacement within a batch gives."""
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((40, 6)).astype(np.float32) + np.array([3, 0, 0, 1, 0, 0], np.float32)
    per = PerExample("w", (6,), grads, grads.mean(0, dtype=np.float64))
    study = study_batches(per, batch_sizes=(1, 5, 20, 40), draws=20_000, seed=0)
    for row in study.rows:
        assert row.mean_rel_error < 0.01, row.batch_size
        if row.batch_size < 40:
            assert row.variance == pytest.approx(row.expected_variance, rel=0.04), row.batch_size
    assert study.rows[-1].variance < 1e-10  # |B| = N: every batch is the whole set
    assert abs(study.rows[-1].expected_variance) < 1e-12


def test_the_public_entry_point_on_the_shipped_network(shipped, subset, conv1_per_example):
    model, _ = shipped
    study = batch_gradient_study(model, *subset, param="conv1.weight", batch_sizes=(1, 8, 64, 512), draws=200,
                                 seed=0)
    assert study.full.shape == (32, 1, 3, 3) and study.n_images == 5000
    np.testing.assert_array_equal(study.full.ravel(), conv1_per_example.full)
    again = study_batches(conv1_per_example, (1, 8, 64, 512), 200, 0)
    assert [r.batch_size for r in study.rows] == [1, 8, 64, 512]
    for a, b in zip(study.rows, again.rows):  # the same draws from the same seed
        assert a.variance == b.variance and a.mean_rel_error == b.mean_rel_error
    variances = [r.variance for r in study.rows]
    assert variances == sorted(variances, reverse=True)
    assert -1.2 < study.slope < -0.8  # variance ∝ 1/|B|


def test_the_mean_of_the_batch_gradients_converges(conv1_per_example):
    """The error of the mean of d batch gradients falls as d grows (about as 1/√d: 200/10 draws, √20 ≈ 4.5)."""
    at10, at200 = [], []
    for seed in range(5):
        study = study_batches(conv1_per_example, (1, 8, 64, 512), draws=200, seed=seed)
        at10.append([r.running_rel_error[9] for r in study.rows])
        at200.append([r.running_rel_error[-1] for r in study.rows])
        assert [r.mean_rel_error for r in study.rows] == [r.running_rel_error[-1] for r in study.rows]
    at10, at200 = np.median(at10, 0), np.median(at200, 0)
    assert np.all(at200 < at10 / 2), (at10, at200)
    assert np.all(np.diff(at200) < 0)  # and larger batches get closer with the same number of draws


def test_the_variance_ratio_between_8_and_64_is_near_8(conv1_per_example):
    ratios = []
    for seed in range(6):
        rows = study_batches(conv1_per_example, (8, 64), draws=2000, seed=seed).rows
        ratios.append(rows[0].variance / rows[1].variance)
        for row in rows:  # and each variance is the formula's, within the draws' noise
            assert row.variance == pytest.approx(row.expected_variance, rel=0.25)
    assert all(6.5 < r < 9.7 for r in ratios), ratios
    assert np.mean(ratios) == pytest.approx(8 * (5000 - 8) / (5000 - 64), rel=0.1)  # 8.09: without replacement


# ---------------------------------------------------------------- the loss around the trained weights

def test_directions_are_filter_normalised_and_leave_biases_alone(shipped):
    model, _ = shipped
    d = landscape.random_direction(model, 3)
    params = dict(model.named_parameters())
    assert set(d) == {n for n, p in params.items() if p.ndim >= 2}  # conv and linear weights only
    for name, direction in d.items():
        w = params[name].detach()
        np.testing.assert_allclose(direction.reshape(len(w), -1).norm(dim=1), w.reshape(len(w), -1).norm(dim=1),
                                   rtol=1e-5)
    again = landscape.random_direction(model, 3)
    assert all(torch.equal(d[k], again[k]) for k in d)
    assert not torch.equal(d["stages.conv1.weight"], landscape.random_direction(model, 4)["stages.conv1.weight"])


def test_the_slice_at_zero_is_the_networks_loss(shipped, fmnist_train):
    model, _ = shipped
    images, labels = fmnist_train.images[:64], fmnist_train.labels[:64]
    d1, d2 = landscape.random_direction(model, 0), landscape.random_direction(model, 1)
    line = landscape.loss_line(model, images, labels, d1, [-0.5, 0.0, 0.5])
    with torch.no_grad():
        logits = model(to_tensor(images))
    assert line.loss[1] == pytest.approx(F.cross_entropy(logits, torch.tensor(np.asarray(labels))).item(), rel=1e-6)
    assert line.accuracy[1] == pytest.approx((logits.argmax(1).numpy() == labels).mean())
    assert line.loss[0] > line.loss[1] and line.loss[2] > line.loss[1]  # a minimum along the line
    plane = landscape.loss_plane(model, images, labels, d1, d2, [-0.5, 0.0, 0.5], [0.0, 0.25])
    np.testing.assert_allclose(plane[0], line.loss, rtol=1e-6)  # β = 0: the line
    moved = copy.deepcopy(model)  # the point α = 0.5 by hand
    with torch.no_grad():
        for name, p in moved.named_parameters():
            if name in d1:
                p.add_(d1[name], alpha=0.5)
        by_hand = F.cross_entropy(moved(to_tensor(images)), torch.tensor(np.asarray(labels))).item()
    assert line.loss[2] == pytest.approx(by_hand, rel=1e-5)


def test_a_training_path_is_projected_on_its_plane(shipped, tmp_path):
    model, _ = shipped
    final = landscape.weights_of(model)
    u, v = landscape.random_direction(model, 0), landscape.random_direction(model, 1)
    coords = np.array([[2.0, 1.0], [1.2, 0.9], [0.5, 0.3], [0.1, -0.05], [0.0, 0.0]])
    states = [{k: final[k] + a * u[k] + b * v[k] for k in final} for a, b in coords]  # a path in the (u, v) plane
    np.testing.assert_allclose(landscape.project_path(states, final, u, v), coords, atol=1e-5)
    p1, p2 = landscape.trajectory_plane(states, final)
    flat = [torch.cat([d[k].ravel() for k in final]).double() for d in (p1, p2)]
    assert float(flat[0].norm()) == pytest.approx(1.0, rel=1e-6) and abs(float(flat[0] @ flat[1])) < 1e-6
    on_plane = landscape.project_path(states, final, p1, p2)  # the principal plane holds the whole path
    residual = [torch.cat([(s[k] - final[k]).ravel() for k in final]).double()
                - float(a) * flat[0] - float(b) * flat[1] for s, (a, b) in zip(states, on_plane)]
    assert max(float(r.norm()) for r in residual) < 1e-3 * max(float(torch.cat([u[k].ravel() for k in u]).norm()), 1)
    path = tmp_path / "run.pt"
    torch.save({"format": "cnnviz-1", "state_dict": model.state_dict(), landscape.HISTORY_KEY: states[:2]}, path)
    assert len(landscape.load_weight_history(path)) == 2
    torch.save({"format": "cnnviz-1", "state_dict": model.state_dict()}, path)
    assert landscape.load_weight_history(path) is None and landscape.load_weight_history(tmp_path / "x") is None


# ---------------------------------------------------------------- learning rate and momentum on toy costs

@pytest.mark.parametrize("toy", descent.TOYS)
@pytest.mark.parametrize("lr, momentum", [(0.001, 0.0), (0.001, 0.9), (0.0005, 0.5), (0.002, 0.99)])
def test_momentum_paths_follow_the_update_and_torch_sgd(toy, lr, momentum):
    path = descent.sgd_path(toy, lr, momentum, steps=150)
    w, v = np.array(descent.START[toy], dtype=np.float64), np.zeros(2)  # by hand: v ← μv + ∇L(w), w ← w − γv
    for t in range(1, len(path.points)):
        g = descent.gradient(toy, w)
        v = momentum * v + g
        w = w - lr * v
        np.testing.assert_allclose(path.points[t], w, rtol=1e-12)
    param = torch.tensor(descent.START[toy], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=lr, momentum=momentum)
    for t in range(1, len(path.points)):
        optimizer.zero_grad()
        descent.cost(toy, param[0], param[1]).backward()
        optimizer.step()
        np.testing.assert_allclose(path.points[t], param.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert path.costs[0] == pytest.approx(descent.cost(toy, *descent.START[toy]))


def test_too_large_a_learning_rate_diverges_where_the_formula_says():
    for momentum in (0.0, 0.5, 0.9):
        limit = descent.stability_limit("quadratic", momentum)  # 2(1 + μ)/λ_max
        assert descent.sgd_path("quadratic", 0.97 * limit, momentum, steps=3000).diverged_at is None
        assert descent.sgd_path("quadratic", 1.03 * limit, momentum, steps=3000).diverged_at is not None
    fast = descent.sgd_path("rosenbrock", 0.001, 0.9, steps=3000)
    slow = descent.sgd_path("rosenbrock", 0.001, 0.0, steps=3000)
    assert descent.steps_to(fast) is not None and (descent.steps_to(slow) or 10**9) > descent.steps_to(fast)
    assert descent.sgd_path("rosenbrock", 0.05, 0.9).diverged_at is not None
    assert descent.optimizer_code(0.001, 0.9) == "optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)"


def test_the_registry_offers_the_toys_the_library_has():
    from ui.screens import BY_ID, LEARN_TOYS

    assert LEARN_TOYS == descent.TOYS
    assert BY_ID["learning"].field("lr").default == 0.001 and BY_ID["learning"].field("momentum").default == 0.9
