"""cnnviz: look inside a convolutional neural network.

The library behind the Streamlit app: step engines for convolution and pooling (`ops`), datasets
(`data`), networks (`models`), checkpoints, training, evaluation, translation measures (`shift`) and
plotly figure builders (`figures`). Nothing here imports Streamlit.

Errors meant for a person carry a message id from the catalogues in locales/ and its parameters, so the
app words them in the reader's language: `CnnvizError("err.grid_not_number", name=..., row=2, ...)`.
`str(exc)` is the English text (logs, the command line); `exc.message("fr")` the French one.
"""

from __future__ import annotations


class CnnvizError(Exception):
    """Base class of the errors cnnviz raises with a message meant for a person.

    `code` is a catalogue id ("err.…"); `params` fill its placeholders. A parameter whose value is itself
    a message id prefixed with "@" (e.g. name="@grid.input") is translated too, so a grid's name reads
    "Entrée" in French.
    """

    def __init__(self, code: str, **params):
        self.code = code
        self.params = params
        super().__init__(code)

    def message(self, lang: str = "en") -> str:
        from cnnviz.i18n import tr

        return tr(lang, self.code, **self.params)

    def __str__(self) -> str:
        return self.message("en")


def shown_path(path) -> str:
    """A server file or folder as a message may name it (messages reach every browser): relative to the folder
    the server runs in when it is inside, else just its name — never an absolute server path."""
    from pathlib import Path

    path = Path(path).expanduser()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return path.name


class DatasetUnavailable(CnnvizError):
    """The dataset is not on this machine and could not be downloaded."""


class CheckpointError(CnnvizError):
    """A checkpoint file is missing, corrupt, unsafe or of another architecture."""


class SettingError(CnnvizError, ValueError):
    """A training setting that cannot work (a ValueError too, for the callers that catch that): raised by
    cnnviz.training's TrainConfig and cnnviz.training_cost's checks before Start."""


class ShapeError(CnnvizError, ValueError):
    """A layer's output would have no spatial extent (or an operation's settings do not fit)."""
