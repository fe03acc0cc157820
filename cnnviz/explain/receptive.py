"""The receptive field of a unit of any network: the input pixels it depends on.

    receptive_field(model, stage, row, col) -> (row0, row1, col0, col1) input pixels, inclusive, clipped

The arithmetic is cnnviz.geometry's (the Architecture screen's too, from a layer table): each stage's kernel,
stride, padding and dilation, from the input up to the stage.
"""

from __future__ import annotations

from torch import nn

from cnnviz.explain.stages import LOGITS, ExplainError, resolve_stage, stage_modules
from cnnviz.models import receptive_fields

Box = tuple[int, int, int, int]  # (row0, row1, col0, col1) input pixels, inclusive


def image_box(h: int, w: int) -> Box:
    """The whole image: what a flat stage (after flatten) depends on."""
    return (0, h - 1, 0, w - 1)


def receptive_field(model: nn.Module, stage: str, row: int, col: int, names: list[str] | None = None,
                    input_hw: tuple[int, int] | None = None) -> Box:
    """Input pixels unit (row, col) of `stage` depends on: (row0, row1, col0, col1), inclusive, clipped.

    `names`: every stage in forward order (the keys of forward_features; default: a StagedNet's stages);
    `input_hw`: the input's size (default: the model's input_shape). A flat stage (after flatten) depends on the
    whole image. For max pooling this is the region the unit *may* depend on; the winner decides which part
    it does.
    """
    if names is None:
        names = list(getattr(model, "stages", {}).keys())
        if not names:
            raise ExplainError("err.explain_unknown_stage", stage=stage, stages="")
    h, w = input_hw or tuple(model.input_shape[1:])
    order = [n for n in names if n != LOGITS]
    real = resolve_stage(stage, names)
    chain = list(stage_modules(model, order[:order.index(real) + 1]).values())
    if any(isinstance(m, (nn.Flatten, nn.Linear)) for m in chain):
        return image_box(h, w)
    rows, cols = receptive_fields(chain)
    return (*rows.span(row, h), *cols.span(col, w))
