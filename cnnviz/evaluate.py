"""The test phase: predictions, accuracy, scikit-learn's classification report and confusion matrix.

    python -m cnnviz.evaluate checkpoints/fashion_compact.pt   # prints the report and the matrix
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from cnnviz import CnnvizError
from cnnviz.data import Dataset, to_tensor

# Set when the process shuts down (cnnviz.training.install_clean_shutdown): every evaluation stops at its
# next batch, so a SIGTERM never waits for 10,000 test images.
SHUTDOWN = threading.Event()


class EvaluationCancelled(CnnvizError):
    """An evaluation was interrupted (its job stopped, or the server is shutting down)."""


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, images: np.ndarray, batch_size: int = 1000,
                   cancel: threading.Event | None = None,
                   progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """uint8 images (N, H, W[, 3]) -> logits (N, classes) on the CPU, in eval mode, batch by batch, computed on the
    model's device (a training job's may be a GPU).

    `cancel` (and a process shutdown) is checked before every batch: EvaluationCancelled when set. `progress`
    is told (images done, of how many) before every batch, for a progress bar."""
    device = next(model.parameters(), torch.empty(0)).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, len(images), batch_size):
            if SHUTDOWN.is_set() or (cancel is not None and cancel.is_set()):
                raise EvaluationCancelled("err.eval_cancelled")
            if progress is not None:
                progress(i, len(images))
            out.append(model(to_tensor(images[i:i + batch_size]).to(device)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def predict(model: torch.nn.Module, images: np.ndarray, batch_size: int = 1000,
            cancel: threading.Event | None = None, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Predicted class of each image, (N,) int64."""
    return predict_logits(model, images, batch_size, cancel, progress).argmax(1).numpy()


def accuracy(model: torch.nn.Module, data: Dataset, limit: int = 0, cancel: threading.Event | None = None) -> float:
    n = limit or len(data)
    return float((predict(model, data.images[:n], cancel=cancel) == data.labels[:n]).mean())


@dataclass
class EvalReport:
    accuracy: float
    report_text: str  # scikit-learn's table: precision, recall, f1-score, support; accuracy; macro/weighted avg
    confusion: np.ndarray  # (classes, classes): rows true, columns predicted
    y_true: np.ndarray
    y_pred: np.ndarray


def build_report(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> EvalReport:
    from sklearn.metrics import classification_report, confusion_matrix  # here: importing scikit-learn takes ~1 s

    labels = list(range(len(classes)))
    kw = dict(labels=labels, target_names=list(classes), zero_division=0)
    return EvalReport(
        accuracy=float((y_true == y_pred).mean()),
        report_text=classification_report(y_true, y_pred, digits=2, **kw),
        confusion=confusion_matrix(y_true, y_pred, labels=labels),
        y_true=y_true,
        y_pred=y_pred,
    )


def evaluate(model: torch.nn.Module, data: Dataset, limit: int = 0, cancel: threading.Event | None = None,
             batch_size: int = 1000, progress: Callable[[int, int], None] | None = None) -> EvalReport:
    """The slide's test phase: the network's predictions on the first `limit` (0: all) test images, and their
    report (accuracy, scikit-learn's table, the confusion matrix). `cancel` and `progress` as predict_logits."""
    n = limit or len(data)
    pred = predict(model, data.images[:n], batch_size, cancel, progress)  # (n,)
    return build_report(data.labels[:n], pred, data.classes)


if __name__ == "__main__":
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import load_dataset

    model, meta = load_checkpoint(sys.argv[1] if len(sys.argv) > 1 else SHIPPED)
    rep = evaluate(model, load_dataset(meta["dataset"], "test", download=True))
    print(rep.report_text)
    print(rep.confusion)
