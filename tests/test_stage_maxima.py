"""cnnviz.explain.excite's one pass for every stage (issue 22, item 11): the same rankings as one pass per stage,
checked against PyTorch; the means channel_image needs; progress, cancel and the background job."""

import threading

import numpy as np
import pytest
import torch

from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import to_tensor
from cnnviz.evaluate import EvaluationCancelled
from cnnviz.explain import top_activations
from cnnviz.explain.excite import MaximaJob, all_stage_maxima, stage_maxima


@pytest.fixture(scope="module")
def shipped(fmnist_test):
    model, _ = load_checkpoint(SHIPPED)
    return model, fmnist_test.images[:700]


def test_one_pass_gives_every_stage_as_one_pass_per_stage_does(shipped):
    model, images = shipped
    steps = []
    every = all_stage_maxima(model, images, batch_size=256, progress=lambda d, n: steps.append((d, n)))
    assert steps == [(256, 700), (512, 700), (700, 700)]
    with torch.inference_mode():
        feats = model.forward_features(to_tensor(images))
    assert list(every) == list(feats)  # every stage, "logits" too
    for stage, out in feats.items():
        m = every[stage]
        assert m.map_shape == tuple(out.shape[1:]) and m.names == list(feats)
        one = stage_maxima(model, images, stage, batch_size=300)
        np.testing.assert_array_equal(m.values, one.values)
        np.testing.assert_array_equal(m.rows, one.rows)
        np.testing.assert_array_equal(m.cols, one.cols)
        np.testing.assert_array_equal(m.means, one.means)
        flat = out.reshape(len(out), out.shape[1], -1)  # (N, C, H*W), or (N, F, 1) for a flat stage
        np.testing.assert_allclose(m.values, flat.amax(2).numpy(), rtol=1e-6)
        np.testing.assert_allclose(m.means, flat.mean(2).numpy(), rtol=1e-5, atol=1e-6)
        if out.ndim == 4:  # where: the first maximum in raster order
            where = flat.argmax(2).numpy()
            np.testing.assert_array_equal(m.rows.astype(int) * out.shape[3] + m.cols, where)
    assert every["logits"].values is every["fc2"].values  # the last stage's arrays, shared
    tops = top_activations(model, images, "relu3", 5, k=9, maxima=every["relu3"])
    assert [t.index for t in tops] == [t.index for t in top_activations(model, images, "relu3", 5, k=9)]


def test_a_cancelled_pass_stops_before_its_next_batch(shipped):
    model, images = shipped
    cancel = threading.Event()
    done = []

    def progress(d, n):
        done.append(d)
        cancel.set()

    with pytest.raises(EvaluationCancelled):
        all_stage_maxima(model, images, batch_size=100, progress=progress, cancel=cancel)
    assert done == [100]


def test_the_background_job_reports_its_progress_then_its_result(shipped):
    model, images = shipped
    job = MaximaJob(model, images, batch_size=200)
    assert job.progress == (0, 700) and not job.done
    job.start()
    assert job.wait(120) and job.done and job.error is None and job.progress == (700, 700)
    np.testing.assert_array_equal(job.result["conv2"].values, stage_maxima(model, images, "conv2").values)
    bad = MaximaJob(model, images.astype(np.float32)).start()  # not uint8 images: said, never lost in the thread
    assert bad.wait(30) and bad.error is not None and bad.error.code == "err.explain_images"
