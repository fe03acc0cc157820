"""cnnviz — the Streamlit entry point: page config, shared sidebar, navigation.

    streamlit run app.py
"""

import os

import streamlit as st
import torch

st.set_page_config(page_title="cnnviz — look inside a CNN", page_icon=":material/visibility:", layout="wide")


@st.cache_resource
def _set_threads() -> int:
    # Once per server: every session shares these threads (training jobs included).
    torch.set_num_threads(int(os.environ.get("CNNVIZ_THREADS", min(4, os.cpu_count() or 1))))
    return torch.get_num_threads()


_set_threads()

SCREENS = {
    "cnnviz": [("pages/home.py", "Home", ":material/home:")],
    "Operations": [
        ("pages/convolution.py", "Convolution", ":material/grid_on:"),
        ("pages/multichannel.py", "Multi-channel convolution", ":material/layers:"),
        ("pages/pooling.py", "Pooling", ":material/compress:"),
    ],
    "Trained network": [
        ("pages/feature_maps.py", "Feature maps", ":material/map:"),
        ("pages/translation.py", "Translation invariance", ":material/open_with:"),
        ("pages/training.py", "Training", ":material/trending_down:"),
        ("pages/architecture.py", "Architecture", ":material/account_tree:"),
    ],
}
# Only the screens that exist are listed.
PAGES = {
    section: [st.Page(path, title=title, icon=icon, default=(path == "pages/home.py"))
              for path, title, icon in screens if os.path.exists(path)]
    for section, screens in SCREENS.items()
}

st.sidebar.caption("cnnviz · a course companion for *Machine learning for image processing*")
st.navigation(PAGES).run()
