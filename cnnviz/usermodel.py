"""A network the user wrote: their own nn.Module and its weights, opened by every network screen.

Running someone's Python is the server operator's decision, never a browser's: the model is named only by
environment variables read at start-up,

    CNNVIZ_MODEL=path/to/net.py:Net       the file and the nn.Module class (built with no arguments)
    CNNVIZ_WEIGHTS=path/to/net.pt         its state_dict (torch.load with weights_only=True)
    CNNVIZ_MODEL_DATASET=fashion-mnist    its classes and input shape (default: Fashion-MNIST, 1×28×28)

The stages are read from the model's graph with torchvision's feature extraction (torch.fx), so functional
calls such as F.relu or F.max_pool2d are stages too, as in the course's Net. When the graph is a chain of
layers — the usual CNN — it becomes a `StagedNet` whose stages are the user's own modules (shared weights)
and the functional calls as equivalent modules: every screen (feature maps, explain, translation) then works
on it unchanged. `load_user_model` checks that this chain computes exactly what the user's forward does.
"""

from __future__ import annotations

import importlib.util
import operator
import os
import sys
import traceback
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cnnviz import CnnvizError
from cnnviz.data import DATASETS
from cnnviz.models import StagedNet

USER_PREFIX = "user:"  # how the network pickers name the user's model


def configured() -> str | None:
    """The CNNVIZ_MODEL setting, or None."""
    return os.environ.get("CNNVIZ_MODEL") or None


def picker_name(spec: str | None = None) -> str | None:
    """How the network pickers and links name the configured model ("user:Net"), or None without one."""
    spec = configured() if spec is None else spec
    return f"{USER_PREFIX}{spec.rpartition(':')[2]}" if spec else None


def _import_class(spec: str):
    path_text, _, cls_name = spec.rpartition(":")
    path = Path(path_text).expanduser()
    if not path_text or not cls_name or path.suffix != ".py":
        raise CnnvizError("err.user_spec", spec=spec)
    if not path.is_file():
        raise CnnvizError("err.user_missing", path=str(path))
    module_name = f"cnnviz_user_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # torch.fx and pickling look classes up by module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise CnnvizError("err.user_import", path=path.name, reason=_first_line(exc)) from exc
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise CnnvizError("err.user_no_class", cls=cls_name, path=path.name)
    return cls, path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _user_line(exc: BaseException, path: Path) -> int | None:
    """The line of the user's file where tracing stopped (data-dependent control flow...)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    return frames[-1].lineno if frames else None


# Functional calls that become modules of a StagedNet (their constant arguments are kept).
def _pool(cls):
    def make(args, kwargs):
        kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
        stride = args[2] if len(args) > 2 else kwargs.get("stride")
        padding = args[3] if len(args) > 3 else kwargs.get("padding", 0)
        return cls(kernel, stride=stride or kernel, padding=padding)
    return make


FUNCTIONS = {
    F.relu: lambda a, k: nn.ReLU(),
    torch.relu: lambda a, k: nn.ReLU(),
    F.max_pool2d: _pool(nn.MaxPool2d),
    F.avg_pool2d: _pool(nn.AvgPool2d),
    torch.flatten: lambda a, k: nn.Flatten(a[1] if len(a) > 1 else k.get("start_dim", 0)),
    torch.sigmoid: lambda a, k: nn.Sigmoid(),
    torch.tanh: lambda a, k: nn.Tanh(),
    F.dropout: lambda a, k: nn.Identity(),  # eval mode: dropout does nothing
}
METHODS = {"relu": lambda a, k: nn.ReLU(), "flatten": lambda a, k: nn.Flatten(a[1] if len(a) > 1 else 0),
           "view": lambda a, k: nn.Flatten(), "reshape": lambda a, k: nn.Flatten()}


def _chain(model: nn.Module, graph) -> "OrderedDict[str, nn.Module] | None":
    """The traced graph as ordered (stage name -> module), or None when it is not a simple chain."""
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    previous = None
    for node in graph.nodes:
        if node.op == "placeholder":
            previous = node
            continue
        if node.op == "output":
            return stages if node.args and node.args[0] is previous else None
        if node.op == "call_method" and node.target == "size" or node.op == "call_function" and \
                node.target is operator.getitem:
            continue  # x.size(0) feeding a view: part of the flatten
        if not node.args or node.args[0] is not previous:
            return None  # a branch, a residual connection...: not a chain
        if node.op == "call_module":
            module = model.get_submodule(node.target)
            name = str(node.target)
        elif node.op == "call_function" and node.target in FUNCTIONS:
            module, name = FUNCTIONS[node.target](node.args, node.kwargs), node.name
        elif node.op == "call_method" and node.target in METHODS:
            module, name = METHODS[node.target](node.args, node.kwargs), node.name
        else:
            return None
        stages[name] = module
        previous = node
    return None


def load_user_model(spec: str, weights: str | None = None, dataset: str = "fashion-mnist"):
    """(StagedNet over the user's modules, meta) — or CnnvizError saying what is wrong, in the user's terms."""
    from torchvision.models.feature_extraction import get_graph_node_names

    if dataset not in DATASETS:
        raise CnnvizError("err.user_dataset", dataset=dataset, choices=", ".join(DATASETS))
    classes, input_shape = DATASETS[dataset]
    cls, path = _import_class(spec)
    try:
        model = cls()
    except Exception as exc:
        raise CnnvizError("err.user_build", cls=cls.__name__, reason=_first_line(exc)) from exc
    if weights:
        try:
            state = torch.load(weights, weights_only=True, map_location="cpu")
        except Exception as exc:  # missing, truncated, or holding Python objects other than weights
            raise CnnvizError("err.user_weights", path=Path(weights).name, reason=_first_line(exc)) from exc
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        try:
            model.load_state_dict(state)
        except Exception as exc:
            raise CnnvizError("err.user_weights_mismatch", cls=cls.__name__, path=Path(weights).name,
                              reason=_first_line(exc)) from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        get_graph_node_names(model)  # torchvision's feature extraction: the stages a user can look at
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as exc:
        line = _user_line(exc, path)
        raise CnnvizError("err.user_untraceable", cls=cls.__name__, path=path.name, line=line or "?",
                          reason=_first_line(exc)) from exc
    stages = _chain(model, graph)
    if stages is None:
        raise CnnvizError("err.user_not_chain", cls=cls.__name__)
    staged = StagedNet(stages, input_shape).eval()
    x = torch.rand(2, *input_shape) * 2 - 1  # (N, C, H, W) in [-1, 1]
    try:
        with torch.inference_mode():
            expected, got = model(x), staged(x)
    except Exception as exc:
        raise CnnvizError("err.user_input", cls=cls.__name__, shape="×".join(map(str, input_shape)),
                          reason=_first_line(exc)) from exc
    if expected.shape != (2, len(classes)):
        raise CnnvizError("err.user_outputs", cls=cls.__name__, n=len(classes), shape=str(tuple(expected.shape[1:])))
    if not torch.allclose(expected, got, atol=1e-5):
        raise CnnvizError("err.user_not_chain", cls=cls.__name__)
    meta = {"dataset": dataset, "classes": tuple(classes), "input_shape": tuple(input_shape),
            "test_accuracy": None, "arch": cls.__name__, "path": f"{USER_PREFIX}{cls.__name__}",
            "source": f"{path.name}:{cls.__name__}", "weights": Path(weights).name if weights else None}
    return staged, meta
