"""cnnviz — the Streamlit entry point: page config, shared sidebar, navigation.

    streamlit run app.py

The frame itself (page config, thread count, sidebar, the list of screens) is `ui.app_frame()`, so
that a page reached through Streamlit's legacy pages/ mode can draw the same frame (see
`ui.require_app`).
"""

import ui

ui.app_frame().run()
