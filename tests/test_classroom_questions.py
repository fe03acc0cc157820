"""cnnviz.class_questions: the questions put to the class, their answers checked against PyTorch (the convolution
of each kernel offered, the network's prediction, the output sizes, the parameter counts), numbers typed the
reader's way, and every question accepted by the store as it is."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnviz import class_questions as cq
from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.classroom import check_question
from cnnviz.data import images_to_browse, to_tensor
from cnnviz.ops import SEED_IMAGE, SEED_KERNEL, conv2d_steps, parse_grid, pool2d_steps
from ui.screens import BY_ID

CONV = {f.name: f.default for f in BY_ID["convolution"].fields}
POOL = {f.name: f.default for f in BY_ID["pooling"].fields}
ARCH = {f.name: f.default for f in BY_ID["architecture"].fields}


def torch_conv(x, k, stride=1, padding=0, dilation=1) -> np.ndarray:
    x = torch.tensor(np.asarray(x, dtype=np.float64))[None, None]
    k = torch.tensor(np.asarray(k, dtype=np.float64))[None, None]
    return F.conv2d(x, k, stride=stride, padding=padding, dilation=dilation)[0, 0].numpy()


@pytest.fixture(scope="module")
def shipped():
    model, meta = load_checkpoint(SHIPPED)
    return model, meta, images_to_browse(meta["dataset"])


@torch.inference_mode()
def torch_probs(model, images) -> np.ndarray:
    """The softmax of a batch of uint8 images (N, H, W), straight from the network (N, classes)."""
    return torch.softmax(model(to_tensor(images)), 1).numpy()


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 1, 2)])
def test_which_kernel_produced_this_map(seed, stride, padding, dilation):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(6, 6))
    kernel = SEED_KERNEL if seed % 2 else rng.integers(-2, 3, size=(3, 3))
    q = cq.kernel_question(x, kernel, stride, padding, dilation, seed)
    check_question(q)
    assert q["kind"] == "choice" and len(q["options"]) == 4
    shown = np.asarray(q["grids"][1]["values"], dtype=float)
    assert np.allclose(shown, torch_conv(x, kernel, stride, padding, dilation))
    outputs = [torch_conv(x, np.asarray(o["grid"], dtype=float), stride, padding, dilation) for o in q["options"]]
    right = [i for i, out in enumerate(outputs) if np.allclose(out, shown, atol=1e-6)]
    assert right == [q["answer"]]  # exactly one option gives the map shown: the answer
    assert np.array_equal(np.asarray(q["options"][q["answer"]]["grid"]), kernel)


def test_the_kernel_question_of_the_default_view_is_the_course_example():
    q = cq.build("kernel", "convolution", CONV, seed=3)
    assert q["grids"][0]["values"] == SEED_IMAGE.tolist()
    assert q["grids"][1]["values"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    flipped = cq.build("kernel", "convolution", {**CONV, "kernel": "1 2 0\n0 0 0\n0 0 0", "flip": True}, seed=3)
    assert np.asarray(flipped["options"][flipped["answer"]]["grid"]).tolist() == [[0, 0, 0], [0, 0, 0], [0, 2, 1]]
    assert cq.build("kernel", "convolution", {**CONV, "input": "1 2\n3 x"}) is None  # a grid that does not parse


@pytest.mark.parametrize("n,k,stride,padding,dilation", [(5, 3, 1, 0, 1), (7, 3, 2, 1, 1), (12, 5, 3, 2, 2),
                                                          (4, 3, 1, 0, 1), (3, 3, 1, 0, 1)])
@pytest.mark.parametrize("seed", range(4))
def test_output_size_statements_agree_with_torch(n, k, stride, padding, dilation, seed):
    q = cq.size_statement("conv", n, k, stride, padding, dilation, seed)
    check_question(q)
    m = q["prompt"]["params"]["m"]
    real = torch_conv(np.ones((n, n)), np.ones((k, k)), stride, padding, dilation).shape[0]
    assert q["answer"] == (m == real) and m >= 1
    assert q["answer"] == (seed % 2 == 0)
    pool = cq.size_statement("pool", n, min(k, n), stride, 0, 1, seed, mode="avg")
    real = F.avg_pool2d(torch.ones(1, 1, n, n), min(k, n), stride).shape[-1]
    assert pool["answer"] == (pool["prompt"]["params"]["m"] == real)
    assert pool["prompt"]["id"] == "class.q.tf_pool_avg_size"


def test_pooling_view_statement():
    q = cq.build("tf_pool_size", "pooling", POOL, seed=0)
    assert q["answer"] is True and q["prompt"]["params"]["m"] == 2  # the course's 4×4 example -> 2×2


def test_which_class_will_the_network_predict(shipped):
    model, meta, data = shipped
    images = data.images[:120]
    for i, (image, probs) in enumerate(zip(images, torch_probs(model, images))):
        q = cq.predict_question(probs, meta["classes"], image, seed=i)
        check_question(q)
        names = [o["class"] for o in q["options"]]
        assert len(set(names)) == 4 and names[q["answer"]] == meta["classes"][int(probs.argmax())]
        assert np.array_equal(np.asarray(q["image"], dtype=np.uint8), image)


def test_is_the_network_right_and_does_a_shift_change_its_prediction(shipped):
    model, meta, data = shipped
    images, labels = data.images[:300], data.labels[:300]
    probs = torch_probs(model, images)
    changed = 0
    for i, label in enumerate(labels):
        assert cq.right_statement(probs[i], int(label), images[i])["answer"] == (int(probs[i].argmax()) == label)
    for dx, dy in [(1, 0), (3, -2)]:
        moved = torch.roll(torch.tensor(images), shifts=(dy, dx), dims=(1, 2)).numpy()  # circular, (N, H, W)
        moved_probs = torch_probs(model, moved)
        for i in range(len(images)):
            q = cq.shift_question(probs[i], moved_probs[i], dx, dy, True, images[i])
            flips = int(moved_probs[i].argmax()) != int(probs[i].argmax())
            assert q["answer"] == int(flips) and q["prompt"]["id"] == "class.q.shift_circular"
            changed += flips
    check_question(q)
    assert changed > 0  # the shipped network does flip on some shifted images: both answers occur


def test_fc1_share_is_counted_as_torch_counts_it():
    q = cq.build("tf_fc_share", "architecture", ARCH, input_shape=(3, 210, 310))  # the slide's Net: fc1 is huge
    check_question(q)
    conv_params = sum(f * c * k * k + f for f, c, k in [(64, 3, 11), (128, 64, 5), (256, 128, 3)])
    fc1 = torch.nn.Linear(256 * 46 * 71, 120, device="meta")
    fc1_params = sum(p.numel() for p in fc1.parameters())
    assert q["answer"] == (fc1_params > (conv_params + fc1_params + 120 * 10 + 10) / 2) is True
    small = cq.fc_share_statement((1, 28, 28), "512-3-1-1;512-3-1-1;512-3-1-1", 16)
    assert small["answer"] is False  # 3×3 convolutions of 512 filters outweigh a 4608 -> 16 fc1
    assert cq.fc_share_statement((1, 8, 8), "8-5-0-1;8-5-0-1", 10) is None  # the shape collapses


def _exercise(kind, data, answer):
    return SimpleNamespace(kind=kind, data=data, answer=answer)


def test_numeric_questions_show_the_data_and_keep_the_engines_answer():
    x = np.arange(25).reshape(5, 5) % 4
    trace = conv2d_steps(x, SEED_KERNEL, 1, 1, 1)
    step = trace.steps[7]
    q = cq.numeric_question(_exercise("conv_cell", {"input": x.tolist(), "kernel": SEED_KERNEL.tolist(), "stride": 1,
                                                    "padding": 1, "dilation": 1, "row": step.out_row,
                                                    "col": step.out_col}, step.value), "convolution")
    check_question(q)
    assert q["answer"] == torch_conv(x, SEED_KERNEL, 1, 1, 1)[step.out_row, step.out_col] and q["tolerance"] == 0
    grid = q["grids"][2]["values"]
    assert len(grid) == 5 and grid[step.out_row][step.out_col] == "?" and sum(r.count("?") for r in grid) == 1
    pool = pool2d_steps(parse_grid(POOL["input"]), 2, 2, "avg").steps[1]
    q = cq.numeric_question(_exercise("pool_cell", {"input": parse_grid(POOL["input"]).tolist(), "size": 2,
                                                    "stride": 2, "mode": "avg", "row": 0, "col": 1}, pool.value))
    assert q["answer"] == pytest.approx(F.avg_pool2d(torch.tensor(parse_grid(POOL["input"]), dtype=torch.float64)
                                                     [None, None], 2)[0, 0, 0, 1].item())
    assert q["prompt"]["id"] == "class.q.pool_avg" and q["tolerance"] == (0 if float(q["answer"]).is_integer()
                                                                          else cq.DECIMALS_TOLERANCE)
    for kind, data, answer in [
            ("conv_output_size", {"n": 7, "k": 3, "stride": 2, "padding": 1, "dilation": 1}, 4),
            ("conv_params", {"c_in": 3, "c_out": 8, "k": 3, "bias": True}, 224),
            ("fc_inputs", {"input_shape": [3, 210, 310], "layers": [{"filters": 64, "k": 11, "padding": 0, "pool": 1},
                                                                   {"filters": 128, "k": 5, "padding": 0, "pool": 1},
                                                                   {"filters": 256, "k": 3, "padding": 0, "pool": 0}]},
             836_096),
            ("receptive_field", {"layers": [{"k": 3, "stride": 1, "padding": 1, "dilation": 1},
                                            {"k": 2, "stride": 2, "padding": 0, "dilation": 1}]}, 4)]:
        q = cq.numeric_question(_exercise(kind, data, answer))
        check_question(q)
        assert q["answer"] == answer and q["kind"] == "numeric"
        assert len(q.get("lines", [])) == len(data.get("layers", []))


def test_numeric_questions_from_the_exercises_of_a_view():
    exercises = pytest.importorskip("cnnviz.exercises", reason="cnnviz.exercises (issue 19, item 1) not merged yet")
    for screen_id in ("convolution", "pooling", "multichannel", "architecture"):
        settings = {f.name: f.default for f in BY_ID[screen_id].fields}
        for offer in ("numeric", "numeric_more"):
            if offer not in dict(cq.offers(screen_id, have_exercises=True)):
                continue
            q = cq.build(offer, screen_id, settings)
            ex = exercises.exercise_for_view(screen_id, settings, int(offer == "numeric_more"))
            assert q is not None and ex is not None, (screen_id, offer)
            check_question(q)
            assert q["answer"] == pytest.approx(float(ex.answer)) and ex.check(q["answer"])
            assert q["exercise"] == ex.kind
    for kind in ("conv_cell", "fc_inputs", "receptive_field", "pool_cell", "conv_params", "conv_output_size"):
        q = cq.build("numeric", "exercises", {"kind": kind, "seed": 17})
        check_question(q)
        assert q["answer"] == pytest.approx(float(exercises.make_exercise(kind, 17).answer))
    assert cq.build("numeric", "exercises", {"kind": "predict", "seed": 3}) is None  # not a number


def test_offers_and_quick_questions():
    ids = [o for o, _ in cq.offers("convolution", have_exercises=False)]
    assert ids == ["kernel", "tf_conv_size", "quick_choice", "quick_truefalse"]
    assert [o for o, _ in cq.offers("home")] == ["quick_choice", "quick_truefalse"]
    assert "predict" in dict(cq.offers("feature_maps")) and "shift" in dict(cq.offers("translation"))
    for q in (cq.quick_choice(), cq.quick_truefalse()):
        public, secret = check_question(q)
        assert secret["answer"] is None


def test_the_histogram_is_readable_from_the_back_row():
    fig = cq.histogram_figure(["A", "B", "C"], [3, 0, 12], [False, None, True], "Round 1", "students")
    bar = fig.data[0]
    assert list(bar.y) == [3, 0, 12] and list(bar.text) == ["3", "0", "12"]
    assert bar.marker.color[2] == "#2e7d32" and bar.textfont.size >= 24 and fig.layout.xaxis.tickfont.size >= 24
