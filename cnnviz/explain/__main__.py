"""python -m cnnviz.explain [stage channel row col]: one unit of the shipped network explained, on test image 0."""

import sys

from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import images_to_browse
from cnnviz.explain import explain_unit

net, meta = load_checkpoint(SHIPPED)
data = images_to_browse(meta["dataset"])
st_name = sys.argv[1] if len(sys.argv) > 1 else "conv2"
ch, r_, c_ = (int(v) for v in (sys.argv[2:5] if len(sys.argv) >= 5 else (0, 0, 0)))
e = explain_unit(net, data.images[0], st_name, ch, r_, c_)
print(f"{e.stage}[{e.channel}, {e.row}, {e.col}] = {e.value:.6f} ({e.kind}, from {e.previous}); "
      f"network {e.network_value:.6f}; follow {e.follow}; receptive field {e.receptive_field}")
