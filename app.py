"""cnnviz — the Streamlit entry point: page config, shared sidebar, navigation.

    streamlit run app.py

The frame itself (page config, language, sidebar, the screens, settings <-> URL) is `ui.run_app()`, so
that a page reached through Streamlit's legacy pages/ mode can draw the same frame (see
`ui.require_app`).
"""

import ui

ui.run_app()
