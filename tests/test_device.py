"""cnnviz.device: the shared networks' passes over many images run on the GPU where there is one (issue 20, item 4),
on a copy made once, the shared CPU network left alone. The GPU comparisons run only where CUDA is available."""

import gc

import numpy as np
import pytest
import torch

from cnnviz import device as dev
from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import images_to_browse, to_tensor

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")


@pytest.fixture(scope="module")
def shipped():
    model, meta = load_checkpoint(SHIPPED)
    return model, images_to_browse(meta["dataset"]).images


def test_compute_device_follows_the_settings(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("CNNVIZ_DEVICE", raising=False)
    dev.compute_device.cache_clear()
    try:
        assert dev.compute_device() == torch.device("cuda")  # the default where PyTorch sees a GPU
        monkeypatch.setenv("CNNVIZ_DEVICE", "cpu")
        dev.compute_device.cache_clear()
        assert dev.compute_device() == torch.device("cpu")
    finally:
        dev.compute_device.cache_clear()


def test_on_its_own_device_the_model_is_used_as_it_is(shipped):
    model, _ = shipped
    assert dev.model_on(model, "cpu") is model and dev.device_of(model) == torch.device("cpu")


def test_another_device_gets_one_copy_and_the_shared_model_is_untouched():
    # PyTorch's "meta" device stands for a GPU here: a real move of every parameter, without the hardware
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU()).eval()
    before = [p.detach().clone() for p in model.parameters()]
    copy = dev.model_on(model, "meta")
    assert copy is not model and dev.model_on(model, torch.device("meta")) is copy  # made once
    assert dev.device_of(copy) == torch.device("meta") and not copy.training
    assert all(p.device.type == "cpu" and torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert copy(torch.zeros(1, 1, 5, 5, device="meta")).shape == (1, 2, 3, 3)
    n = len(dev._copies)
    del model, copy
    gc.collect()
    assert len(dev._copies) == n - 1  # the copy goes with the network it was made of


def test_the_copy_for_outputs_folds_batch_norms_and_gives_the_same_probabilities(shipped):
    model, images = shipped
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = dev.for_output(model, "cpu")
    assert fast is not model and dev.for_output(model, "cpu") is fast  # made once, shared
    kinds = [type(m).__name__ for m in fast.stages.values()]
    assert "BatchNorm2d" not in kinds and kinds.count("Identity") == 3  # the three conv + batch norm pairs folded
    x = to_tensor(images[:64])  # (64, 1, 28, 28)
    with torch.inference_mode():
        want, got = torch.softmax(model(x), 1), torch.softmax(fast(x), 1)
    assert torch.allclose(got, want, atol=1e-5) and torch.equal(got.argmax(1), want.argmax(1))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the shared network untouched


def test_the_copy_for_outputs_leaves_what_it_cannot_fold():
    staged = dev.for_output(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)).eval(), "cpu")  # not a StagedNet
    assert isinstance(staged, torch.nn.Sequential) and isinstance(staged[0], torch.nn.Conv2d)
    from cnnviz.models import build_model

    training = build_model("compact").train()  # batch statistics: nothing to fold
    assert dev.for_output(training, "cpu") is training


@CUDA
def test_the_shared_maps_and_top9_on_the_gpu_match_the_cpu(shipped, monkeypatch):
    from cnnviz import shared
    from cnnviz.explain import stage_maxima

    model, images = shipped
    monkeypatch.setattr(shared, "compute_device", lambda: torch.device("cuda"))
    gpu = shared.image_maps(model, images[0])
    with torch.inference_mode():
        cpu = model.forward_features(to_tensor(images[:1]))
    for name, m in gpu.maps.items():
        np.testing.assert_allclose(m, cpu[name][0].numpy(), rtol=1e-3, atol=1e-3)
    probs = shared.shift_probabilities(model, images[0], 2)
    from cnnviz.shift import probabilities_over_shifts
    with torch.inference_mode():
        np.testing.assert_allclose(probs, probabilities_over_shifts(model, images[0], 2), atol=1e-4)
    a, b = stage_maxima(model, images, "relu2", device="cuda"), stage_maxima(model, images, "relu2", device="cpu")
    np.testing.assert_allclose(a.values, b.values, rtol=1e-3, atol=1e-3)
    assert dev.device_of(model).type == "cpu"  # the shared network stayed where it was
