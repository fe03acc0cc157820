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

The user's code runs only while the model loads (import, `__init__`, weights, tracing, a forward on a dummy
input): afterwards the pages run torch.nn modules only (a stage with a replaced forward or a hook of its own is
refused). Loading runs in a worker thread with a time limit (`LOAD_SECONDS`): a model that does not answer in
time gets "did not answer within N s", and — a thread cannot be killed — is marked broken for the server and
not run again (a pure-Python loop is also asked to stop). Anything the user's code raises, SystemExit and
KeyboardInterrupt included, becomes a message. `check_in_background()` loads the model once at start-up and
logs the result for the owner (also `python -m cnnviz.usermodel`). Messages name files relative to the folder
the server runs in, or by their name, never by an absolute server path.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import operator
import os
import re
import stat
import sys
import threading
import time
import traceback
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cnnviz import CnnvizError, shown_path
from cnnviz.data import DATASETS
from cnnviz.models import StagedNet

USER_PREFIX = "user:"  # how the network pickers name the user's model
LOAD_SECONDS = 30.0  # loading: import, build, weights, a forward on a dummy input, a traced forward
log = logging.getLogger(__name__)
_BROKEN: dict[str, CnnvizError] = {}  # spec -> why: models that did not answer, for the server's lifetime
_LOCK = threading.Lock()  # one load at a time (the start-up check, then the pages wait for its result)
_LOADED: dict = {}  # (spec, weights, dataset, mtimes) -> (model, meta): the last model loaded, shared


def configured() -> str | None:
    """The CNNVIZ_MODEL setting, or None."""
    return os.environ.get("CNNVIZ_MODEL") or None


def picker_name(spec: str | None = None) -> str | None:
    """How the network pickers and links name the configured model ("user:Net"), or None without one."""
    spec = configured() if spec is None else spec
    return f"{USER_PREFIX}{spec.rpartition(':')[2]}" if spec else None


_ABSOLUTE = re.compile(r"(?<![\w.])(?:/[^\s'\"/:,()]+)+/([^\s'\"/:,()]+)")


def _scrub(text: str) -> str:
    """An exception's text without absolute server paths: the folder the server runs in is dropped, any other
    absolute path is reduced to its file name."""
    cwd = str(Path.cwd().resolve())
    text = text.replace(cwd + os.sep, "")
    return _ABSOLUTE.sub(lambda m: m.group(1), text)


def _import_class(spec: str):
    path_text, _, cls_name = spec.rpartition(":")
    path = Path(path_text).expanduser()
    if not path_text or not cls_name or path.suffix != ".py":
        raise CnnvizError("err.user_spec", spec=_scrub(spec)[:200])
    if not path.is_file():
        raise CnnvizError("err.user_missing", path=shown_path(path))
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
    return _scrub(f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__)[:300]


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


def _own_code(stages) -> str | None:
    """The name of a stage that would run code of the user's at page time (a forward replaced on the instance,
    a hook), or None: the stages must be torch.nn modules as torch wrote them."""
    for name, m in stages.items():
        for sub in m.modules():
            if "forward" in vars(sub) or sub._forward_hooks or sub._forward_pre_hooks or sub._backward_hooks:
                return name
    return None


class _OwnThreadTracer(torch.fx.Tracer):
    """torch.fx's tracer, confined to the thread that traces. While fx traces, it replaces nn.Module.__call__
    and __getattr__ for the whole process: a trace that hangs in the user's code would break every other
    session's network (NameError "module is not installed as a submodule"). Calls from other threads go
    straight through here."""

    def __init__(self):
        super().__init__()
        self.owner = threading.get_ident()

    def call_module(self, m, forward, args, kwargs):
        if threading.get_ident() != self.owner:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if threading.get_ident() != self.owner:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def _load(spec: str, weights: str | None, dataset: str):
    """The loading itself (runs in a worker thread: see load_user_model). The user's forward runs twice: on a
    dummy input first (a model that does not answer stops there, before any tracing), then traced."""
    classes, input_shape = DATASETS[dataset]
    cls, path = _import_class(spec)
    try:
        model = cls()
    except Exception as exc:
        raise CnnvizError("err.user_build", cls=cls.__name__, reason=_first_line(exc)) from exc
    if weights:
        try:
            if not stat.S_ISREG(os.stat(weights).st_mode):  # a named pipe would block torch.load for ever
                raise OSError(f"{Path(weights).name} is not a regular file")
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
    x = torch.rand(2, *input_shape) * 2 - 1  # (N, C, H, W) in [-1, 1]
    failed = None
    try:
        with torch.inference_mode():
            expected = model(x)
    except Exception as exc:  # said after the tracing, whose message is the more precise (an `if` on a tensor)
        failed = exc
    try:
        graph = _OwnThreadTracer().trace(model)  # the stages a user can look at, from the model's graph
    except Exception as exc:
        line = _user_line(exc, path)
        raise CnnvizError("err.user_untraceable", cls=cls.__name__, path=path.name, line=line or "?",
                          reason=_first_line(exc)) from exc
    if failed is not None:
        raise CnnvizError("err.user_input", cls=cls.__name__, shape="×".join(map(str, input_shape)),
                          reason=_first_line(failed)) from failed
    if not isinstance(expected, torch.Tensor) or expected.shape != (2, len(classes)):
        shape = tuple(expected.shape[1:]) if isinstance(expected, torch.Tensor) else type(expected).__name__
        raise CnnvizError("err.user_outputs", cls=cls.__name__, n=len(classes), shape=str(shape))
    stages = _chain(model, graph)
    if stages is None:
        raise CnnvizError("err.user_not_chain", cls=cls.__name__)
    own = _own_code(stages)
    if own is not None:
        raise CnnvizError("err.user_stage_code", cls=cls.__name__, stage=own)
    staged = StagedNet(stages, input_shape).eval()
    try:
        with torch.inference_mode():
            got = staged(x)
    except Exception:  # noqa: BLE001 - a chain that does not run as the model does
        raise CnnvizError("err.user_not_chain", cls=cls.__name__) from None
    if not torch.allclose(expected, got, atol=1e-5):
        raise CnnvizError("err.user_not_chain", cls=cls.__name__)
    meta = {"dataset": dataset, "classes": tuple(classes), "input_shape": tuple(input_shape),
            "test_accuracy": None, "arch": cls.__name__, "path": f"{USER_PREFIX}{cls.__name__}",
            "source": f"{path.name}:{cls.__name__}", "weights": Path(weights).name if weights else None}
    return staged, meta


class _Abandoned(BaseException):
    """Raised, best effort, in a worker thread the server stopped waiting for (see _ask_to_stop)."""


def _ask_to_stop(thread: threading.Thread) -> None:
    """Ask a worker stuck in the user's Python to stop (CPython's asynchronous exception, raised at its next
    bytecode): a `while True` loop then ends instead of slowing every session. A sleep or a long torch call
    ends first; code that catches everything may ignore it — the model stays marked broken either way."""
    if thread.ident is None or not hasattr(ctypes, "pythonapi"):
        return
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_Abandoned))
    if done > 1:  # never expected: undo rather than disturb another thread
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)


def _bounded(fn, seconds: float):
    """fn() in a worker thread -> ("ok", value), ("raised", BaseException) or ("timeout", None) after `seconds`.

    Whatever the user's code raises in the worker is returned, SystemExit and KeyboardInterrupt included: a
    signal (the server's own shutdown) reaches the main thread only, never this worker, so nothing raised here
    is the server's."""
    box: dict = {}

    def work():
        try:
            box["value"] = fn()
        except _Abandoned:
            pass
        except BaseException as exc:  # noqa: BLE001 - the user's code: reported, never re-raised here
            box["error"] = exc

    worker = threading.Thread(target=work, name="cnnviz-user-model", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        _ask_to_stop(worker)
        return "timeout", None
    if "error" in box:
        return "raised", box["error"]
    return "ok", box.get("value")


def _stamp(spec: str, weights: str | None) -> tuple:
    """The model's files' modification times: a file changed on disk is loaded again."""
    out = []
    for f in (spec.rpartition(":")[0], weights):
        try:
            out.append(os.stat(f).st_mtime_ns if f else None)
        except (OSError, ValueError):
            out.append(None)
    return tuple(out)


def load_user_model(spec: str, weights: str | None = None, dataset: str = "fashion-mnist",
                    seconds: float | None = None):
    """(StagedNet over the user's modules, meta) — or CnnvizError saying what is wrong, in the user's terms.

    The loading runs the user's code in a worker thread for at most `seconds` (LOAD_SECONDS): past that,
    "err.user_timeout", and the model is marked broken for the server ("err.user_broken" from then on).
    The last model loaded is kept, so the start-up check and the pages load it once."""
    if dataset not in DATASETS:
        raise CnnvizError("err.user_dataset", dataset=str(dataset)[:40], choices=", ".join(DATASETS))
    limit = LOAD_SECONDS if seconds is None else seconds
    cls_name = spec.rpartition(":")[2][:60] or "?"
    key = (spec, weights, dataset, _stamp(spec, weights))
    with _LOCK:
        if spec in _BROKEN:
            raise CnnvizError("err.user_broken", **_BROKEN[spec].params)
        if key in _LOADED:
            return _LOADED[key]
        outcome, value = _bounded(lambda: _load(spec, weights, dataset), limit)
        if outcome == "timeout":
            _BROKEN[spec] = CnnvizError("err.user_timeout", cls=cls_name, s=round(limit))
            log.error("%s", _BROKEN[spec])
            raise _BROKEN[spec]
        if outcome == "raised":
            if isinstance(value, CnnvizError):
                raise value
            raise CnnvizError("err.user_raised", cls=cls_name, path=shown_path(spec.rpartition(":")[0]),
                              what=_first_line(value))
        _LOADED.clear()  # one model at a time: the one CNNVIZ_MODEL names
        _LOADED[key] = value
        return value


def configured_model() -> tuple[str, str | None, str] | None:
    """(CNNVIZ_MODEL, CNNVIZ_WEIGHTS, CNNVIZ_MODEL_DATASET) as the server was started, or None."""
    spec = configured()
    if spec is None:
        return None
    return spec, os.environ.get("CNNVIZ_WEIGHTS") or None, os.environ.get("CNNVIZ_MODEL_DATASET", "fashion-mnist")


def check_now(seconds: float | None = None) -> str:
    """Load the configured model once with a dummy input, in a bounded time, and log the result for the owner
    (English, on the console) -> the line logged ("" without CNNVIZ_MODEL)."""
    setting = configured_model()
    if setting is None:
        return ""
    if not log.hasHandlers():  # the owner reads it on the console, whatever the logging setup
        log.addHandler(logging.StreamHandler(sys.stderr))
        log.setLevel(logging.INFO)
    spec, weights, dataset = setting
    start = time.perf_counter()
    try:
        model, _ = load_user_model(spec, weights, dataset, seconds)
    except CnnvizError as exc:
        line = f"CNNVIZ_MODEL check failed: {exc}"
        log.error("%s", line)
        return line
    line = (f"CNNVIZ_MODEL check: {shown_path(spec.rpartition(':')[0])}:{spec.rpartition(':')[2]} loads "
            f"({len(model.stages)} stages, {dataset}) in {time.perf_counter() - start:.1f} s")
    log.info("%s", line)
    return line


def check_in_background() -> threading.Thread | None:
    """check_now() in a thread of its own (at the server's start: the first page does not wait for it, and
    a page that needs the model waits for its result instead of loading it a second time)."""
    if configured() is None:
        return None
    thread = threading.Thread(target=check_now, name="cnnviz-user-model-check", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(check_now() or "CNNVIZ_MODEL is not set.")
