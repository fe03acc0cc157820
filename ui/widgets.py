"""Streamlit pieces shared by the screens: cached loaders, network and image pickers, uploads, step controls.

Datasets and models are `st.cache_resource` (one read-only copy shared by every session); nothing here
mutates a model. Every text comes from the catalogues (`t`); file names and anything else a browser sent
are shown as plain text, never as Markdown or HTML.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from cnnviz import CnnvizError
from cnnviz.checkpoints import SHIPPED, list_checkpoints, load_checkpoint
from cnnviz.data import Dataset, images_to_browse, load_dataset
from cnnviz.geometry import output_size
from cnnviz.i18n import FALLBACK, normalize, tr
from ui.screens import LANG_KEY, PRESENT_KEY

UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp"]
CLASS_IDS = {  # dataset class name -> message id (labels are translated; logic uses the index)
    "T-shirt/top": "class.tshirt", "Trouser": "class.trouser", "Pullover": "class.pullover",
    "Dress": "class.dress", "Coat": "class.coat", "Sandal": "class.sandal", "Shirt": "class.shirt",
    "Sneaker": "class.sneaker", "Bag": "class.bag", "Ankle boot": "class.ankle_boot",
    "airplane": "class.airplane", "automobile": "class.automobile", "bird": "class.bird", "cat": "class.cat",
    "deer": "class.deer", "dog": "class.dog", "frog": "class.frog", "horse": "class.horse", "ship": "class.ship",
    "truck": "class.truck",
}


def lang() -> str:
    """The session's language ("fr", "en") as the frame chose it for this run: the one place it is read (a page
    has it as t.lang too)."""
    return normalize(st.session_state.get(LANG_KEY)) or FALLBACK


def presenting() -> bool:
    """The presenter view is on (?present=1 or the sidebar switch)."""
    return bool(st.session_state.get(PRESENT_KEY, False))


def intro(text: str) -> None:
    """An explanatory paragraph: shown normally, folded away in the presenter view."""
    if not presenting():
        st.markdown(text)


def numbers_as_text(t, rows: list[dict], specs: dict[str, str]) -> tuple[list[dict], dict]:
    """Table rows with the columns of `specs` (column -> format spec: "", ".1%", "g"...) written in the reader's
    language ("93,2 %", "10 000"), and their column_config (right-aligned text). Streamlit's own number formats
    follow the browser's locale ("localized") or none ("percent": "93.20%"), never the app's."""
    from cnnviz.i18n import format_number

    def text(value, spec):
        if value is None or isinstance(value, float) and value != value:
            return "—"
        return format_number(t.lang, value, spec)

    out = [{k: text(v, specs[k]) if k in specs else v for k, v in row.items()} for row in rows]
    return out, {k: st.column_config.TextColumn(alignment="right") for k in specs}


def decimal_point_note(t) -> None:
    """Said once under a row of number fields, in a language with a decimal comma: Streamlit's number fields
    write and read "0.001" (their format is printf's; no setting of Streamlit 1.67 takes a locale)."""
    from babel.numbers import get_decimal_symbol

    if get_decimal_symbol(lang()) != ".":
        st.caption(t("common.decimal_point"))


def secondary(t):
    """A container for secondary controls: inline normally, an expander in the presenter view.

        with ui.secondary(t):
            st.toggle(...)
    """
    return st.expander(t("common.more_settings")) if presenting() else st.container()


def class_name(name: str) -> str:
    """A class name in the reader's language (unknown names, e.g. of a user's model, as they are)."""
    msg_id = CLASS_IDS.get(name)
    return tr(lang(), msg_id) if msg_id else str(name)


def class_names(names) -> list[str]:
    return [class_name(n) for n in names]


DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}  # ids -> the names people know
ARCH_IDS = {"compact": "train.model_compact", "compact_blur": "train.model_compact_blur",
            "seednet": "train.model_seednet", "mlp": "train.model_mlp", "convnet": "train.model_custom"}


def dataset_name(dataset: str) -> str:
    """"fashion-mnist" -> "Fashion-MNIST" (never a raw id on screen; an unknown one as plain text)."""
    return DATASET_NAMES.get(dataset) or plain(dataset)


def arch_name(arch: str) -> str:
    """"compact" -> "Compact CNN (3 blocks, batch norm)" in the reader's language (unknown: plain text)."""
    msg_id = ARCH_IDS.get(arch)
    return tr(lang(), msg_id) if msg_id else plain(arch)


def show_error(exc: Exception) -> None:
    """A CnnvizError in the reader's language, as plain text (its parameters may come from a browser)."""
    message = exc.message(lang()) if isinstance(exc, CnnvizError) else str(exc)
    st.error(plain(message), icon=":material/error:")


def plain(text: str) -> str:
    """Text that Streamlit's Markdown shows as it is: no bold, links, images or HTML from a user's string."""
    specials = "\\`*_{}[]()#+-.!|<>~$"
    escaped = "".join("\\" + ch if ch in specials else ch for ch in str(text))
    return escaped.replace("\n", "  \n")  # a line break stays a line break


# ---------------------------------------------------------------- shared, cached loaders

@st.cache_resource(show_spinner=False)
def dataset(name: str, split: str) -> Dataset:
    """One split, loaded once per server (raises DatasetUnavailable). A page view never downloads: only an
    explicit button does (`download`)."""
    return load_dataset(name, split, download=False)


def download(name: str, split: str) -> Dataset:
    """Download one split now (a button's action; raises DatasetUnavailable with the reason), then share it."""
    from cnnviz.data import download_dataset

    download_dataset(name, split)
    return dataset(name, split)  # a failed load is not cached: this one now reads the downloaded files


@st.cache_resource(show_spinner=False)
def images_for(name: str) -> Dataset:
    """The test split, or the shipped sample images where the dataset is not installed."""
    return images_to_browse(name)


@st.cache_resource(show_spinner=False, max_entries=8)
def network(path: str, mtime: float):
    """(model, meta) for a checkpoint; `mtime` makes a rewritten file load again."""
    return load_checkpoint(path)


@st.cache_resource(show_spinner=False, max_entries=2)
def user_network(spec: str, weights: str | None, dataset: str, mtime: float):
    """(model, meta) of the model named by CNNVIZ_MODEL / CNNVIZ_WEIGHTS (raises CnnvizError)."""
    from cnnviz.usermodel import load_user_model

    return load_user_model(spec, weights, dataset)


def _user_entry() -> tuple[str, str, callable] | None:
    """(picker name, label parts, loader) of the server's own user model, when one is configured."""
    import os

    from cnnviz.usermodel import configured, picker_name

    spec = configured()
    if spec is None:
        return None
    weights = os.environ.get("CNNVIZ_WEIGHTS") or None
    dataset = os.environ.get("CNNVIZ_MODEL_DATASET", "fashion-mnist")
    files = [Path(spec.rpartition(":")[0]), *([Path(weights)] if weights else [])]
    mtime = max((f.stat().st_mtime for f in files if f.is_file()), default=0.0)
    cls = spec.rpartition(":")[2]
    return (picker_name(spec), f"{cls} ({Path(spec.rpartition(':')[0]).name})",
            lambda: user_network(spec, weights, dataset, mtime))


RUN_LABELS = {"yours": "net.run", "others": "net.run_others", "server": "net.run_server"}  # whose -> message id
GONE = "_run_gone"  # {picker key: (the run that went, the network shown instead)} (a PIECE key of ui/screens.py)


def network_label(t, path: Path) -> str:
    """"Shipped: x", or whose run it is: "Your run: x", "Another student's run: x", "Server's run: x"."""
    if path.parent == SHIPPED.parent:
        return f"{t('net.shipped')} {path.stem}"
    from ui.training_owner import run_owner, whose

    try:
        owner = run_owner(str(path), path.stat().st_mtime)
    except OSError:
        owner = None
    return f"{t(RUN_LABELS[whose(owner)])} {path.stem}"


def _gone_notice(t, key: str, loaders: dict) -> None:
    """The run a screen showed was deleted or renamed by another session: the screen falls back to the first
    network (shipped), and says so for as long as it shows that fallback (never silently: the student would take
    the shipped network for theirs)."""
    S = st.session_state
    gone = S.setdefault(GONE, {})
    previous = S.get(key)
    if previous not in loaders:  # a run deleted or renamed meanwhile, or a first visit
        fallback = next(iter(loaders))
        if isinstance(previous, str) and previous.endswith(".pt"):
            gone[key] = (previous, fallback)
        S[key] = fallback
    if key in gone:
        name, fallback = gone[key]
        if S.get(key) != fallback:  # another network was picked since
            del gone[key]
            return
        st.warning(t("net.gone", name=plain(Path(name).stem), shown=plain(Path(fallback).stem)),
                   icon=":material/folder_off:")


def skipped_notice(t, skipped: list, where=st) -> None:
    """Say which files of runs/ are not offered: [(path or name, CnnvizError)] from list_checkpoints or
    cnnviz.runs.run_files. Runs named like a shipped network apart (they never take its place); then junk,
    dangling links, links out of runs/, pipes and names no run may have. Names are shown as plain text."""
    def names(items) -> str:
        return ", ".join(plain(Path(str(p)).name) for p in items[:5])

    reserved = [p for p, why in skipped if getattr(why, "code", "") == "err.run_reserved"]
    junk = [p for p, why in skipped if getattr(why, "code", "") != "err.run_reserved"]
    if reserved:
        where.caption(t("net.reserved", n=len(reserved), names=names(reserved)))
    if junk:
        where.caption(t("net.skipped", n=len(junk), names=names(junk)))


def pick_network(t, key: str):
    """A sidebar select box of the shipped networks, the user's runs and the server's user model
    (CNNVIZ_MODEL) -> (model, meta), or None with a message.

    `key` is the screen's setting that holds the chosen name (a file name, or "user:Class"), so it can go in a link.
    """
    skipped = []
    paths = {}
    for p in list_checkpoints(skipped):  # the shipped networks first: a name keeps meaning the first file
        paths.setdefault(p.name, p)
    skipped_notice(t, skipped, st.sidebar)
    labels = {name: network_label(t, p) for name, p in paths.items()}
    loaders = {name: (lambda p=p: network(str(p), p.stat().st_mtime)) for name, p in paths.items()}
    user = _user_entry()
    if user is not None:
        labels[user[0]] = f"{t('net.user')} {user[1]}"
        loaders[user[0]] = user[2]
    if not loaders:
        st.error(t("net.none"))
        return None
    _gone_notice(t, key, loaders)  # a run deleted or renamed meanwhile: said, then the first network
    name = st.sidebar.selectbox(t("net.label"), list(loaders), format_func=labels.get, key=key)
    try:
        return loaders[name]()
    except (CnnvizError, OSError) as exc:
        st.error(t("net.unloadable", name=plain(labels[name])), icon=":material/error:")
        if isinstance(exc, CnnvizError):
            show_error(exc)
        return None


# ---------------------------------------------------------------- uploads

def upload_image(t, key: str, help_id: str = "upload.help"):
    """A file uploader for one image -> (PIL image, file name) or None; bad files give a message, never a traceback."""
    from cnnviz.images import open_image

    up = st.file_uploader(t("upload.label"), type=UPLOAD_TYPES, key=key, help=t(help_id))
    if up is None:
        return None
    try:
        loaded = open_image(up.getvalue(), up.name)
    except CnnvizError as exc:
        show_error(exc)
        return None
    for note in loaded.notes:
        st.info(plain(note.message(lang()) if hasattr(note, "message") else note))
    return loaded.image, up.name


# ---------------------------------------------------------------- step controls

def step_controls(t, state, n: int, name: str = "step") -> int:
    """Previous / Next buttons and a slider over steps 1..n, kept in the screen's setting `name` -> the step."""
    key = state.key(name)
    S = st.session_state
    S[key] = int(np.clip(S.get(key, 1), 1, n))

    def move(delta: int):
        S[key] = int(np.clip(S[key] + delta, 1, n))

    b1, b2, b3 = st.columns([2.2, 2.2, 5.6])  # wide enough for the label and its shortcut
    big = "primary" if presenting() else "secondary"  # the presenter view's big buttons; arrows work everywhere
    b1.button(t("step.previous"), on_click=move, args=(-1,), disabled=S[key] <= 1, width="stretch",
              key=f"{key}_prev", shortcut="Left", type=big, help=t("step.keys_help"))
    b2.button(t("step.next"), on_click=move, args=(1,), disabled=S[key] >= n, width="stretch", key=f"{key}_next",
              shortcut="Right", type=big, help=t("step.keys_help"))
    if n > 1:
        b3.slider(t("step.label"), 1, n, key=key, label_visibility="collapsed")
    return S[key]


def output_size_text(t, n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> str:
    """The output-size formula with its numbers, e.g. '⌊(5 + 2·0 − 1·(3 − 1) − 1) / 1⌋ + 1 = 3'."""
    out = output_size(n, k, stride, padding, dilation)
    if padding == 0 and dilation == 1:
        return f"⌊({n} − {k}) / {stride}⌋ + 1 = {out}"
    return f"⌊({n} + 2·{padding} − {dilation}·({k} − 1) − 1) / {stride}⌋ + 1 = {out}"


def output_size_line(t, shape_in: tuple[int, int], shape_k: tuple[int, int], stride=1, padding=0, dilation=1) -> str:
    """'Output size — rows: …; columns: …' for a convolution or a pooling."""
    (h, w), (kh, kw) = shape_in, shape_k
    return t("formula.output_size", rows=output_size_text(t, h, kh, stride, padding, dilation),
             cols=output_size_text(t, w, kw, stride, padding, dilation))
