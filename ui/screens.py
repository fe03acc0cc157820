"""The one registry of screens, and each screen's settings (typed, with their defaults) — plain Python.

app.py's navigation, the home page's links, the tests and the benchmarks all read `SCREENS`. Each screen's
settings are `Field`s: the session-state key is the screen's prefix + the field's name ("conv_stride"), the
URL parameter is the field's name (`/convolution?stride=2`). Query values come from a browser: `Field.parse`
checks type, range, choices and length, and raises ValueError for anything else (the frame then ignores the
value with a notice).

Every other session-state entry is declared too: a screen's own in `Screen.keys` (under its prefix), the frame's
in `FRAME_KEYS`, those of ui/ pieces outside any prefix in `PIECE_KEYS`; widget keys need no declaration.
`is_declared(key)` says whether a key is known (a test runs the screens and checks every key they leave).

The choice lists are the library's own (datasets, networks, losses, kernels, layer limits...), never copies.
Nothing here imports Streamlit, so tests and bench/ can read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Callable

from cnnviz.approx import ACTIVATIONS, FUNCTIONS
from cnnviz.data import DATASETS
from cnnviz.descent import TOYS as LEARN_TOYS  # the toy costs of the Learning screen's momentum part
from cnnviz.exercises import KINDS as EX_KINDS
from cnnviz.exercises import MAX_SEED as EX_MAX_SEED
from cnnviz.explain.ascent import REGULARISERS
from cnnviz.explain.ascent import STEP_CHOICES as ASCENT_STEPS
from cnnviz.gradients import COMPARED
from cnnviz.layers import COMPACT_LAYERS, SEED_LAYERS, parse_layers
from cnnviz.loop import LOSSES
from cnnviz.models import ARCHITECTURES
from cnnviz.ops import FILTER_PRESETS, KERNEL_PRESETS, POOL_MODES
from cnnviz.runs import plain_name
from cnnviz.timeline import MAX_MOMENTS
from cnnviz.training import CUSTOM_MODEL

ROOT = Path(__file__).resolve().parent.parent
MAX_QUERY_VALUE = 4000  # characters: a 12×12 grid of 6-character numbers fits; a 100 kB string does not
LANG_KEY = "lang"  # the language: a URL parameter of every screen, and its session-state entry
PRESENT_KEY = "present"  # the presenter view (big text and figures, few controls): idem
GLOBAL_PARAMS = (LANG_KEY, PRESENT_KEY)
# The frame's session-state entries (ui/frame.py): the two above; the language and presenter values last read
# from the URL and kept across st.switch_page; the URL this session last wrote; notices to show; the screen shown.
FRAME_KEYS = (*GLOBAL_PARAMS, "_lang_url", "_lang_kept", "_present_url", "_present_kept", "_url_last", "_notices",
              "_screen", "_viewport", "_settings_kept")  # _viewport: the browser's size (ui/browser.py); _settings_kept:
# the settings of the screens not shown (ui.frame._keep_settings)
# Entries of ui/ pieces that are not under one screen's prefix: the "Check yourself" box that several screens show
# (ui/exercise_view.py: its seed, its verdicts); a class session (ui/classroom_view.py: the instructor's class, this
# student's id, the last question seen, failed instructor keys, the errors to show); whose runs are whose
# (ui/training_owner.py: this browser's token, the instructor key typed on Training, its error; ui/widgets.py: a run
# a screen showed that was deleted or renamed meanwhile).
PIECE_KEYS = ("cy_*_seed", "cy_*_feedback", "_class_teacher", "_class_student", "_class_seen", "_class_fails",
              "_class_key_error", "_class_error", "_run_owner", "_run_instructor", "_run_key_error", "_run_gone")


@dataclass(frozen=True)
class Field:
    """One setting of a screen: its type, default and allowed values."""

    name: str
    default: Any
    kind: str = "int"  # int, float, bool, choice, text, grid
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    max_len: int = MAX_QUERY_VALUE
    check: Callable[[Any], None] | None = None  # extra validation (raises ValueError / CnnvizError)

    def parse(self, raw: str) -> Any:
        """A query-string value -> the typed value, or ValueError."""
        if not isinstance(raw, str) or len(raw) > self.max_len:
            raise ValueError("too long")
        if self.kind == "int":
            value = int(raw)
        elif self.kind == "float":
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("not finite")
        elif self.kind == "bool":
            if raw not in ("0", "1", "true", "false"):
                raise ValueError("not a boolean")
            value = raw in ("1", "true")
        elif self.kind == "choice":
            if raw not in self.choices:
                raise ValueError("unknown choice")
            value = raw
        elif self.kind == "grid":  # rows separated by ';', cells by ','
            value = "\n".join(" ".join(c for c in row.split(",")) for row in raw.split(";"))
        else:
            value = raw
        if self.lo is not None and value < self.lo or self.hi is not None and value > self.hi:
            raise ValueError("out of range")
        if self.check is not None:
            try:
                self.check(value)
            except ValueError:
                raise
            except Exception as exc:  # a CnnvizError from a parser: the value is not usable
                raise ValueError(str(exc)) from None
        return value

    def dump(self, value: Any) -> str:
        """The typed value -> its query-string form (parse(dump(v)) == v)."""
        if self.kind == "bool":
            return "1" if value else "0"
        if self.kind == "grid":
            return ";".join(",".join(line.split()) for line in str(value).strip().splitlines() if line.strip())
        if self.kind == "float":
            return repr(float(value))
        return str(value)


@dataclass(frozen=True)
class Screen:
    """A screen: its id (= URL path), title (message id), file, icon, section and settings."""

    id: str
    title: str  # message id of its title in the navigation
    file: str
    icon: str
    section: str  # message id of the sidebar section
    prefix: str  # session-state keys of this screen start with it
    fields: tuple[Field, ...] = field(default=())
    keys: tuple[str, ...] = ()  # its other session-state entries (names after the prefix, "*" a wildcard; never in the URL)

    def key(self, name: str) -> str:
        return self.prefix + name

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def names(self) -> tuple[str, ...]:
        """Every session-state entry of the screen (after its prefix): its settings, then its other keys."""
        return (*(f.name for f in self.fields), *self.keys)


def _grid_check(max_size: int):
    def check(text: str) -> None:
        from cnnviz.ops import parse_grid

        parse_grid(text, "grid", max_size=max_size)
    return check


def _filter_check(text: str) -> None:
    from cnnviz.ops import parse_filters

    parse_filters([text], channels=3)


def _bias_check(text: str) -> None:
    from cnnviz.multichannel import parse_bias

    parse_bias(text, 1, MC_MAX_FILTERS)


def mc_preset_texts(preset: str, k: int, seed: int) -> tuple[str, ...]:
    """The texts of the multi-channel screen's MC_MAX_FILTERS filters for a preset (raises ShapeError)."""
    from cnnviz.ops import filter_bank, format_filter

    return tuple(format_filter(w) for w in filter_bank(preset, MC_MAX_FILTERS, 3, k, seed))


MC_MAX_FILTERS = 4
MC_SOURCES = ("cifar", "card", "random", "upload")
MC_FILTERS = mc_preset_texts("random", 3, 0)
SEED_INPUT = "1 1 1 0 0\n0 1 1 1 0\n0 0 1 1 1\n0 0 1 1 0\n0 1 1 0 0"
SEED_KERNEL = "1 0 1\n0 1 0\n1 0 1"
SEED_POOL = "12 20 30 0\n8 12 2 0\n34 70 37 4\n112 100 25 12"


def _network_check(name: str) -> None:
    """A name the network picker offers (a checkpoint file: shipped or a run; "user:Class": CNNVIZ_MODEL)."""
    from cnnviz.checkpoints import list_checkpoints
    from cnnviz.usermodel import picker_name

    if name not in {p.name for p in list_checkpoints()} and name != picker_name():
        raise ValueError("unknown network")


def _layer_check(name: str) -> None:
    """A stage name as the networks write them (conv1, relu2, pool3...); the page checks it exists."""
    if not (name[:1].isalpha() and name.isascii() and name.replace("_", "").isalnum()):
        raise ValueError("not a layer name")


def _multiple_of_4(n: int) -> None:
    if n % 4:
        raise ValueError("not a multiple of 4")


TRAINING_VIEW_FIELDS = ("moment", "scrub_with", "cmp_moment")  # Training settings of the view, not of a training
WANTS_OF = ("channel", "class")  # the ascent's target: the big map's channel, or a class logit


def _ascent_steps(n: int) -> None:
    if n not in ASCENT_STEPS:
        raise ValueError("not one of the offered step counts")


NETWORK_DEFAULT = "fashion_compact.pt"  # cnnviz.checkpoints.SHIPPED's name
IMAGE_FIELDS = (  # ui.image_picker: the image a network screen looks at
    Field("source", "test", "choice", choices=("test", "upload", "draw")),  # draw: never in a link (the drawing)
    Field("cls", "any", "choice", choices=("any", *map(str, range(10)))),  # a class id, or any class
    Field("idx", 0, lo=0, hi=69_999),  # position among the test images of that class (clipped)
    Field("invert", True, "bool"),  # an upload to a grayscale network: light on dark, like Fashion-MNIST
)
IMAGE_KEYS = ("drawn", "drawn_src")  # ui.image_picker: the drawing converted to the input, and what it came from

# ---------------------------------------------------------------- training and architecture
ARCH_SHAPES = {"fmnist": (1, 28, 28), "cifar": (3, 32, 32), "slide": (3, 210, 310), "custom": None}
# The conv layers of both screens are one "filters-kernel-padding-pool" group per layer (cnnviz.layers).


# ---------------------------------------------------------------- universal approximation
def _hundreds(n: int) -> None:
    if n % 100:
        raise ValueError("not a multiple of 100")


def _class_code_check(text: str) -> None:
    if text:
        from cnnviz.classroom import normalize_code

        normalize_code(text)


def _stage_check(text: str) -> None:
    import re

    if text and not re.fullmatch(r"(conv|relu|pool|bn)([1-9]|1[0-6])", text):
        raise ValueError("not a stage name")


SCREENS: tuple[Screen, ...] = (
    Screen("home", "screen.home", "pages/home.py", ":material/home:", "section.cnnviz", "home_"),
    Screen("class", "screen.classroom", "pages/class.py", ":material/groups:", "section.cnnviz", "class_", (
        Field("code", "", "text", max_len=20, check=_class_code_check),  # the join code (students' link)
    )),
    Screen("approximation", "screen.approximation", "pages/approximation.py", ":material/function:", "section.operations", "ua_", (
        Field("function", "sine", "choice", choices=FUNCTIONS),
        Field("activation", "tanh", "choice", choices=ACTIVATIONS),
        Field("neurons", 4, lo=1, hi=64),  # hidden neurons N
        Field("steps", 2000, lo=100, hi=5000, check=_hundreds),  # Adam steps (full batch)
        Field("seed", 0, lo=0, hi=9999),  # the initial weights
        Field("units", False, "bool"),  # draw each hidden neuron's term
    )),
    Screen("convolution", "screen.convolution", "pages/convolution.py", ":material/grid_on:", "section.operations", "conv_", (
        Field("input", SEED_INPUT, "grid", check=_grid_check(12)),
        Field("kernel", SEED_KERNEL, "grid", check=_grid_check(7)),
        Field("preset", "seed", "choice", choices=KERNEL_PRESETS),
        Field("ksize", 3, lo=1, hi=7),
        Field("stride", 1, lo=1, hi=6),
        Field("padding", 0, lo=0, hi=3),
        Field("dilation", 1, lo=1, hi=3),
        Field("flip", False, "bool"),
        Field("step", 1, lo=1, hi=144),
        Field("animate", False, "bool"),
        Field("source", "test", "choice", choices=("test", "upload")),
        Field("idx", 0, lo=0, hi=69_999),
    ), keys=("preset_shown",)),  # the preset whose kernel the kernel field holds (a link's preset loads its kernel)
    Screen("multichannel", "screen.multichannel", "pages/multichannel.py", ":material/layers:", "section.operations", "mc_", (
        Field("source", "card", "choice", choices=MC_SOURCES),
        Field("size", 8, lo=4, hi=12),
        Field("cifar", 0, lo=0, hi=9_999),  # CIFAR-10 test image index (clipped to the split's length)
        Field("seed", 0, lo=0, hi=9999),  # random input and random filters
        Field("filters", 2, lo=1, hi=MC_MAX_FILTERS),  # F
        Field("k", 3, lo=1, hi=5),
        Field("preset", "random", "choice", choices=FILTER_PRESETS),
        Field("edited", False, "bool"),  # the filter texts were typed (else they follow preset, k and seed)
        *(Field(f"f{i}", MC_FILTERS[i], "text", check=_filter_check) for i in range(MC_MAX_FILTERS)),
        Field("use_bias", False, "bool"),
        Field("bias", "1 1 1 1", "text", max_len=200, check=_bias_check),
        Field("cell_f", 1, lo=1, hi=MC_MAX_FILTERS),  # the output cell shown channel by channel (filter 1..F)
        Field("cell_i", 0, lo=0, hi=11),
        Field("cell_j", 0, lo=0, hi=11),
        Field("reveal", 4, lo=1, hi=4),  # channels revealed (C = 3), then the total
    )),
    Screen("pooling", "screen.pooling", "pages/pooling.py", ":material/compress:", "section.operations", "pool_", (
        Field("input", SEED_POOL, "grid", check=_grid_check(12)),
        Field("mode", "max", "choice", choices=POOL_MODES),
        Field("size", 2, lo=1, hi=6),
        Field("stride", 2, lo=1, hi=6),
        Field("step", 1, lo=1, hi=144),
        Field("idx", 0, lo=0, hi=69_999),  # Fashion-MNIST test image (clipped to the split's length)
        Field("what", "image", "choice", choices=("image", "feature_map")),
        Field("channel", 0, lo=0, hi=255),  # channel of the shipped network's relu1 (clipped)
        Field("times", 1, lo=1, hi=3),
    )),
    Screen("feature_maps", "screen.feature_maps", "pages/feature_maps.py", ":material/map:", "section.network", "fm_", (
        Field("network", NETWORK_DEFAULT, "text", max_len=200, check=_network_check),
        *IMAGE_FIELDS,
        Field("signed", True, "bool"),
        Field("stage", "relu1", "text", max_len=40, check=_layer_check),  # the map shown large (if it exists)
        Field("channel", 0, lo=0, hi=1023),  # clipped to the stage's channels
        # The unit explained by the panel (ui/explain_panel.py): "" / -1 = none; checked against the network.
        Field("ex_stage", "", "text", max_len=40, check=lambda text: text and _layer_check(text)),
        Field("ex_ch", -1, lo=-1, hi=4095),
        Field("ex_row", -1, lo=-1, hi=4095),
        Field("ex_col", -1, lo=-1, hi=4095),
        Field("top9", False, "bool"),  # the 9 test images that excite the big map's channel most
        Field("gradcam", False, "bool"),  # Grad-CAM over the input
        Field("cam_class", -1, lo=-1, hi=999),  # its class (-1: the predicted one; clipped to the classes)
        # What the network learned (ui/learned_view.py): the image the big map's channel, or a class, wants most
        Field("wants", False, "bool"),
        Field("wants_of", "channel", "choice", choices=WANTS_OF),
        Field("wants_class", 0, lo=0, hi=999),  # a class id (checked against the network's classes)
        Field("steps", 256, check=_ascent_steps),  # gradient ascent steps, one of ASCENT_STEPS
        *(Field(name, True, "bool") for name in REGULARISERS),  # each regulariser's switch
        Field("mosaic", False, "bool"),  # every channel of the stage (or every class), computed in the background
        Field("scramble", False, "bool"),  # Grad-CAM and the input gradient as the weights are scrambled
    ), keys=(*IMAGE_KEYS, "cam_memo", "cell_row", "cell_col", "cell_shown")),  # cam_memo: the last Grad-CAM;
    # cell_row, cell_col: the keyboard's fields for a cell, cell_shown: the unit they last showed (ui/explain_panel.py)
    Screen("translation", "screen.translation", "pages/translation.py", ":material/open_with:", "section.network", "shift_", (
        Field("network", NETWORK_DEFAULT, "text", max_len=200, check=_network_check),
        *IMAGE_FIELDS,
        Field("dx", 2, lo=-8, hi=8),
        Field("dy", 0, lo=-8, hi=8),
        Field("circular", False, "bool"),
        Field("stage", "conv1", "text", max_len=40, check=_layer_check),
        Field("channels", 8, lo=4, hi=32, check=_multiple_of_4),
        Field("k", 5, lo=1, hi=8),
        Field("cons_k", 3, lo=1, hi=8),
        Field("compare", False, "bool"),  # the three shipped networks side by side (remedies)
    ), keys=(*IMAGE_KEYS, "remedies_k")),  # remedies_k: the k the remedies were drawn with
    Screen("training", "screen.training", "pages/training.py", ":material/trending_down:", "section.network", "train_", (
        # cnnviz.training.TrainConfig.from_settings / to_settings map these settings to a training's config
        Field("dataset", "fashion-mnist", "choice", choices=tuple(DATASETS)),
        Field("model", "compact", "choice", choices=(*ARCHITECTURES, CUSTOM_MODEL)),  # custom: layers, fc, bn, dropout
        Field("loss", "cross-entropy", "choice", choices=tuple(LOSSES)),
        Field("lr", 0.05, "float", lo=1e-6, hi=1e3),  # learning rate γ
        Field("momentum", 0.9, "float", lo=0.0, hi=0.999),
        Field("batch", 64, lo=1, hi=1024),
        Field("epochs", 2, lo=1, hi=50),
        Field("subset", 10_000, lo=0, hi=60_000),  # training images used (0: all)
        Field("seed", 0, lo=0, hi=1_000_000),
        # model "custom": the network of the Architecture screen (its layers encoding), on the dataset's images
        Field("layers", COMPACT_LAYERS, "text", max_len=400, check=lambda text: parse_layers(text)),
        Field("fc", 128, lo=1, hi=4096),  # fc1 width
        Field("bn", True, "bool"),  # batch norm after each convolution
        Field("dropout", 0.25, "float", lo=0.0, hi=0.9),  # before fc2
        Field("val", 10, lo=0, hi=50),  # % of the training images kept out for validation
        Field("live", True, "bool"),  # conv1's filters and maps refreshed while training
        # The timeline (ui/timeline_view.py; TRAINING_VIEW_FIELDS, not TrainConfig's): the moment shown (-1: the
        # last), a saved run beside this training
        Field("moment", -1, lo=-1, hi=MAX_MOMENTS - 1),
        Field("scrub_with", "", "text", max_len=130, check=lambda text: text and plain_name(text)),
        Field("cmp_moment", -1, lo=-1, hi=MAX_MOMENTS - 1),  # the same in the run comparison
    ), keys=("job", "compare_seen", "compare_renamed")),  # the TrainingJob; this browser's runs offered; a renamed run
    Screen("architecture", "screen.architecture", "pages/architecture.py", ":material/account_tree:", "section.network", "arch_", (
        Field("preset", "slide", "choice", choices=tuple(ARCH_SHAPES)),  # input shape
        Field("c", 3, lo=1, hi=4),  # custom input shape C×H×W
        Field("h", 64, lo=1, hi=512),
        Field("w", 64, lo=1, hi=512),
        Field("layers", SEED_LAYERS, "text", max_len=400, check=lambda text: parse_layers(text)),
        Field("fc", 120, lo=1, hi=4096),  # fc1 width
        Field("bn", False, "bool"),  # batch norm after each convolution
        Field("dropout", 0.0, "float", lo=0.0, hi=0.9),  # before fc2
        Field("rf_stage", "", "text", max_len=16, check=lambda text: _stage_check(text)),  # "": the last stage
        Field("rf_row", -1, lo=-1, hi=4095),  # -1: the centre
        Field("rf_col", -1, lo=-1, hi=4095),
    ), keys=("editor_base", "editor_out")),  # the layers table's version and last output (ui/layers_editor.py)
    Screen("exercises", "screen.exercises", "pages/exercises.py", ":material/quiz:", "section.cnnviz", "ex_", (
        Field("kind", "conv_cell", "choice", choices=EX_KINDS),
        Field("seed", 0, lo=0, hi=EX_MAX_SEED),  # same seed, same exercise: a sheet of links for a class
    ), keys=("answers", "*_feedback")),  # ui/exercise_view.py: every answer; each exercise's last verdict
)
# ---------------------------------------------------------------- how the network learns
LEARN_PARTS = ("cost", "batches", "landscape", "momentum")
LEARN_SUBSETS = (1000, 2000, 5000)  # training images of the full gradient
LEARN_DRAWS = (50, 100, 200, 500, 1000)  # batches drawn per batch size
LEARN_SPANS = (0.1, 0.25, 0.5, 1.0)  # the loss landscape's half-width (filter-normalised units)
LEARN_RESOLUTIONS = (9, 13, 17, 21)  # points per side of the 2-D plane
LEARN_LRS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)  # the toy costs' learning rates
LEARN_MOMENTA = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)


def _one_of(values: tuple):
    def check(value) -> None:
        if value not in values:
            raise ValueError("not one of the offered values")
    return check


def _param_check(text: str) -> None:
    """A parameter name as the networks write them (conv1.weight, bn2.bias...); the page checks it exists."""
    import re

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*\.(weight|bias)", text):
        raise ValueError("not a parameter name")


SCREENS += (
    Screen("learning", "screen.learning", "pages/learning.py", ":material/school:", "section.network", "learn_", (
        Field("part", "cost", "choice", choices=LEARN_PARTS),
        Field("network", NETWORK_DEFAULT, "text", max_len=200, check=_network_check),
        *IMAGE_FIELDS,
        Field("label", 0, lo=0, hi=999),  # the true class of an upload or a drawing (clipped to the classes)
        Field("compared", "probs", "choice", choices=COMPARED),  # what MSE and L1 compare to the target
        Field("batch", 8, lo=2, hi=32),  # |B| of the batch whose costs are summed
        Field("batch_seed", 0, lo=0, hi=9999),
        Field("param", "conv1.weight", "text", max_len=60, check=_param_check),  # the batch-gradient study's tensor
        Field("subset", 5000, check=_one_of(LEARN_SUBSETS)),
        Field("draws", 200, check=_one_of(LEARN_DRAWS)),
        Field("seed", 0, lo=0, hi=9999),
        Field("span", 1.0, "float", check=_one_of(LEARN_SPANS)),
        Field("res", 13, check=_one_of(LEARN_RESOLUTIONS)),
        Field("dir_seed", 0, lo=0, hi=9999),  # the random directions of the landscape
        Field("toy", "quadratic", "choice", choices=LEARN_TOYS),
        Field("lr", 0.001, "float", check=_one_of(LEARN_LRS)),
        Field("momentum", 0.9, "float", check=_one_of(LEARN_MOMENTA)),
        Field("steps", 300, lo=10, hi=3000),
    ), keys=IMAGE_KEYS),
)
SECTIONS = ("section.cnnviz", "section.operations", "section.network")
BY_ID = {s.id: s for s in SCREENS}
BY_FILE = {s.file: s for s in SCREENS}


def is_declared(key: str) -> bool:
    """Is this session-state key one the registry declares: the frame's, a piece's, or a screen's setting or other
    entry?"""
    def matches(name: str, patterns) -> bool:
        return any(fnmatchcase(name, p) for p in patterns)

    return matches(key, (*FRAME_KEYS, *PIECE_KEYS)) or any(
        key.startswith(s.prefix) and matches(key[len(s.prefix):], s.names()) for s in SCREENS)


def check_registry() -> None:
    """Fail loudly at start-up: a missing file, a repeated id or prefix, overlapping prefixes, a session key
    declared twice or under a screen's prefix by the frame."""
    problems = [f"{s.id}: {s.file} does not exist" for s in SCREENS if not (ROOT / s.file).is_file()]
    ids, prefixes = [s.id for s in SCREENS], [s.prefix for s in SCREENS]
    if len(set(ids)) != len(ids):
        problems.append(f"screen ids repeat: {ids}")
    problems += [f"prefix {a!r} overlaps {b!r}" for i, a in enumerate(prefixes) for b in prefixes[i + 1:]
                 if a.startswith(b) or b.startswith(a)]
    problems += [f"{s.id}: section {s.section} unknown" for s in SCREENS if s.section not in SECTIONS]
    problems += [f"{s.id}: session keys repeat: {s.names()}" for s in SCREENS if len(set(s.names())) != len(s.names())]
    problems += [f"frame key {k!r} is under the prefix of {p!r}" for k in (*FRAME_KEYS, *PIECE_KEYS) for p in prefixes
                 if k.startswith(p)]
    if problems:
        raise RuntimeError("screen registry: " + "; ".join(problems))


def query_for(screen_id: str, lang: str | None = None, **values) -> dict[str, str]:
    """The query parameters of a link to a screen set up with `values` (checked against its fields)."""
    screen = BY_ID[screen_id]
    out = {LANG_KEY: lang} if lang else {}
    for name, value in values.items():
        f = screen.field(name)
        text = f.dump(value)
        f.parse(text)  # a lecture link with a bad value fails where it is written, not in a browser
        out[name] = text
    return out


# The course's sequence, each step a screen already set up (home page "Lecture path"; the tests open each).
LECTURE_PATH = (
    ("lecture.conv", "convolution", {}),  # the slides' 5×5 ⊛ 3×3 example
    ("lecture.pool", "pooling", {}),  # the 4×4 max-pooling example
    ("lecture.net", "architecture", {"preset": "slide"}),  # the slide's Net and its TODO
    ("lecture.maps", "feature_maps", {"cls": "7", "idx": 0, "stage": "relu2", "channel": 5}),  # a sneaker
    ("lecture.shift", "translation", {"cls": "any", "idx": 6, "dx": 1, "dy": 0}),  # shifted by 1 px, it flips
    ("lecture.train", "training", {"lr": 0.001, "momentum": 0.9}),  # the slide's optim.SGD settings
    ("lecture.learn", "learning", {"idx": 2914}),  # a sneaker taken for an ankle boot at 99.99 %: its costs
)


check_registry()
