"""The test phase: predictions, accuracy, scikit-learn's classification report and confusion matrix.

    python -m cnnviz.evaluate checkpoints/fashion_compact.pt   # prints the report and the matrix
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import classification_report, confusion_matrix

from cnnviz.data import Dataset, to_tensor


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, images: np.ndarray, batch_size: int = 1000) -> torch.Tensor:
    """uint8 images (N, H, W[, 3]) -> logits (N, classes), in eval mode, batch by batch."""
    was_training = model.training
    model.eval()
    out = [model(to_tensor(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(out)


def predict(model: torch.nn.Module, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Predicted class of each image, (N,) int64."""
    return predict_logits(model, images, batch_size).argmax(1).numpy()


def accuracy(model: torch.nn.Module, data: Dataset, limit: int = 0) -> float:
    n = limit or len(data)
    return float((predict(model, data.images[:n]) == data.labels[:n]).mean())


@dataclass
class EvalReport:
    accuracy: float
    report_text: str  # scikit-learn's table: precision, recall, f1-score, support; accuracy; macro/weighted avg
    confusion: np.ndarray  # (classes, classes): rows true, columns predicted
    y_true: np.ndarray
    y_pred: np.ndarray


def build_report(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> EvalReport:
    labels = list(range(len(classes)))
    kw = dict(labels=labels, target_names=list(classes), zero_division=0)
    return EvalReport(
        accuracy=float((y_true == y_pred).mean()),
        report_text=classification_report(y_true, y_pred, digits=2, **kw),
        confusion=confusion_matrix(y_true, y_pred, labels=labels),
        y_true=y_true,
        y_pred=y_pred,
    )


def evaluate(model: torch.nn.Module, data: Dataset, limit: int = 0) -> EvalReport:
    n = limit or len(data)
    return build_report(data.labels[:n], predict(model, data.images[:n]), data.classes)


if __name__ == "__main__":
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import load_dataset

    model, meta = load_checkpoint(sys.argv[1] if len(sys.argv) > 1 else SHIPPED)
    rep = evaluate(model, load_dataset(meta["dataset"], "test"))
    print(rep.report_text)
    print(rep.confusion)
