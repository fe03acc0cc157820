"""cnnviz: look inside a convolutional neural network.

The library behind the Streamlit app: step engines for convolution and pooling (`ops`), datasets
(`data`), networks (`models`), checkpoints, training, evaluation, translation measures (`shift`) and
plotly figure builders (`figures`). Nothing here imports Streamlit.
"""


class CnnvizError(Exception):
    """Base class of the errors cnnviz raises with a message meant for a person."""


class DatasetUnavailable(CnnvizError):
    """The dataset is not on this machine and could not be downloaded."""


class CheckpointError(CnnvizError):
    """A checkpoint file is missing, corrupt, unsafe or of another architecture."""


class ShapeError(CnnvizError, ValueError):
    """A layer's output would have no spatial extent (or an operation's settings do not fit)."""
