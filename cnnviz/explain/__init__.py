"""Every number of a trained network explained — one idea a module:

    unit.py        explain_unit(model, image, stage, channel, row, col) -> UnitExplanation (.value, .kind, .terms,
                   ...): one unit recomputed from the previous stage; path_back(...) walks back to the input
    receptive.py   receptive_field(model, stage, row, col) -> (row0, row1, col0, col1) input pixels, inclusive
    excite.py      what excites a channel: stage_maxima(model, images, stage), top_activations(..., channel, k=9)
    ascent.py      the image a channel wants: channel_image(model, stage, channel, steps=256, seed=0) -> uint8,
                   by gradient ascent with switchable regularisers; channel_images (several), MosaicJob (a thread)
    gradcam.py     grad_cam(model, image, target=None, stage=None) -> GradCam(.heatmap (H, W) ≥ 0, ...);
                   input_gradient(model, image, target=None) -> (H, W) ≥ 0
    sanity.py      cascading_randomisation(model, image, target=None, seed=0) -> Cascade: Grad-CAM and the input
                   gradient as the layers are re-initialised from the last down (Adebayo et al. 2018)
    stages.py      what they share: the stages of any network found generically, Unit, ExplainError

    python -m cnnviz.explain conv2 5 3 4      # explains unit (channel 5, row 3, col 4) of conv2 on test image 0

Nothing here mutates the model it is given: inference runs under `torch.inference_mode()`, Grad-CAM and the
cascading randomisation work on a private deep copy, and the gradient ascent asks for the image's gradient only.
Every name is importable from `cnnviz.explain` (a drawing's conversion to an input, `canvas_to_image`, is not an
explanation: it lives in cnnviz.images, next to `to_input`).
"""

from cnnviz.explain.ascent import Ascent, MosaicJob, Regularisers, channel_image, channel_images
from cnnviz.explain.excite import StageMaxima, TopActivation, stage_maxima, top_activations
from cnnviz.explain.gradcam import GradCam, grad_cam, gradcam_stage, input_gradient, last_conv_stage
from cnnviz.explain.receptive import image_box, receptive_field
from cnnviz.explain.sanity import Cascade, cascading_randomisation, rank_correlation
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

__all__ = [
    "ELEMENTWISE", "IDENTITY", "INPUT", "LOGITS", "Ascent", "BatchNormTerms", "Cascade", "ConvTerms",
    "ElementwiseTerms", "ExplainError", "GradCam", "LinearTerms", "MosaicJob", "PoolTerms", "Regularisers",
    "StageMaxima", "TopActivation", "Unit", "UnitExplanation", "cascading_randomisation",
    "channel_image", "channel_images", "explain_unit", "grad_cam", "gradcam_stage", "image_box", "input_gradient",
    "last_conv_stage", "path_back", "rank_correlation", "receptive_field", "stage_maxima", "stage_modules",
    "top_activations",
]
