"""Streamlit glue shared by app.py and the pages (it imports Streamlit, so it lives beside app.py, not in cnnviz/).

- `ui.screens`: the registry of screens and their typed settings (plain Python);
- `ui.frame`: page config, language, navigation, settings <-> URL, "Copy link", the legacy-mode guard;
- `ui.widgets`: cached loaders, network picker, uploads, step controls, formulas;
- `ui.image_picker`, `ui.explain_panel`, `ui.remedies_view`, `ui.layers_editor`, `ui.train_this_network`: pieces of
  screens; the Training screen's: `ui.training_slots` (server-wide slots, limits, the job's owner),
  `ui.training_preview` (before Start), `ui.training_charts` (a job, live and after), `ui.test_phase`,
  `ui.runs_manager` (saved runs compared, renamed, deleted, exported);
- `ui.charts`: every chart, styled for its reader (cnnviz.figstyle); `ui.browser`: the window's size, taps;
- `ui.shared_cache`: what the sessions of a class share (maps, shift probabilities, figures).
"""

from ui import presenter
from ui.charts import chart
from ui.frame import app_frame, page, require_app, run_app, stop
from ui.image_picker import pick_image
from ui.widgets import (
    arch_name,
    class_name,
    class_names,
    dataset,
    dataset_name,
    decimal_point_note,
    images_for,
    intro,
    network,
    output_size_line,
    pick_network,
    plain,
    presenting,
    secondary,
    show_error,
    step_controls,
    upload_image,
)

__all__ = ["presenter", "chart", "app_frame", "run_app", "stop", "page", "require_app", "pick_image", "arch_name", "class_name", "class_names", "dataset_name", "decimal_point_note", "dataset",
           "images_for", "intro", "network", "output_size_line", "pick_network", "plain", "presenting", "secondary", "show_error", "step_controls",
           "upload_image"]
