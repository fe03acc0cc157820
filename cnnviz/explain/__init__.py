"""Every number of a trained network explained — one idea a module:

    unit.py        explain_unit(model, image, stage, channel, row, col) -> UnitExplanation (.value, .kind, .terms,
                   ...): one unit recomputed from the previous stage; path_back(...) walks back to the input
    receptive.py   receptive_field(model, stage, row, col) -> (row0, row1, col0, col1) input pixels, inclusive
    excite.py      what excites a channel: stage_maxima(model, images, stage), top_activations(..., channel, k=9)
    gradcam.py     grad_cam(model, image, target=None, stage=None) -> GradCam(.heatmap (H, W) ≥ 0, ...)
    stages.py      what they share: the stages of any network found generically, Unit, ExplainError

    python -m cnnviz.explain conv2 5 3 4      # explains unit (channel 5, row 3, col 4) of conv2 on test image 0

Nothing here mutates the model it is given: inference runs under `torch.inference_mode()`, and Grad-CAM
works on a private deep copy. Every name is importable from `cnnviz.explain` (a drawing's conversion to an
input, `canvas_to_image`, lives in cnnviz.images and is re-exported here for its older callers).
"""

from cnnviz.explain.excite import StageMaxima, TopActivation, stage_maxima, top_activations
from cnnviz.explain.gradcam import GradCam, grad_cam, gradcam_stage, last_conv_stage
from cnnviz.explain.receptive import image_box, receptive_field
from cnnviz.explain.stages import ELEMENTWISE, IDENTITY, INPUT, LOGITS, ExplainError, Unit, stage_modules
from cnnviz.explain.unit import (
    BatchNormTerms,
    ConvTerms,
    ElementwiseTerms,
    LinearTerms,
    PoolTerms,
    UnitExplanation,
    explain_unit,
    path_back,
)
from cnnviz.images import canvas_to_image

__all__ = [
    "ELEMENTWISE", "IDENTITY", "INPUT", "LOGITS", "BatchNormTerms", "ConvTerms", "ElementwiseTerms", "ExplainError",
    "GradCam", "LinearTerms", "PoolTerms", "StageMaxima", "TopActivation", "Unit", "UnitExplanation",
    "canvas_to_image", "explain_unit", "grad_cam", "gradcam_stage", "image_box", "last_conv_stage", "path_back",
    "receptive_field", "stage_maxima", "stage_modules", "top_activations",
]
