"""Helpers for the AppTest suites (tests/test_screen_*.py): start the app on a screen, read charts and text."""

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest

TIMEOUT = 60


def app(page: str | None = None, lang: str = "en", **query) -> AppTest:
    """The app on `page` (a file stem under pages/), in `lang`, with `query` as the link's settings."""
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def open_link(page: str, **query) -> AppTest:
    """A fresh session opening /<page>?<query>, as a browser following a shared link (values sent as text)."""
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.switch_page(f"pages/{page}.py")
    at.query_params.update({k: str(v) for k, v in query.items()})
    return at.run()


def param(at: AppTest, name: str):
    """One query parameter of the address bar (AppTest gives a list or a string)."""
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def chart(at: AppTest, key: str) -> dict:
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if el.proto.id and key in el.proto.id:
            return spec
    raise AssertionError(f"no chart with key {key}")


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.code)


def decode(value) -> np.ndarray:
    """Plotly's JSON writes numpy arrays as typed arrays: {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        shape = tuple(int(v) for v in str(value.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape).astype(float)
    return np.array(value, dtype=float)


def z(spec: dict, i: int) -> np.ndarray:
    return decode(spec["data"][i]["z"])




def widget_keys(at: AppTest) -> set[str]:
    """The keys of the widgets the last run drew (their session-state entries need no declaration)."""
    out, todo = set(), [at.main, at.sidebar]
    while todo:
        node = todo.pop()
        if isinstance(getattr(node, "key", None), str):
            out.add(node.key)
        if isinstance(getattr(node, "children", None), dict):
            todo.extend(node.children.values())
    return out


def undeclared_keys(at: AppTest, widgets: set[str]) -> set[str]:
    """Session-state keys the registry does not declare (ui.screens.is_declared) that are no widget's. `widgets`
    gathers the widget keys of the runs checked so far: a widget's entry outlives by one run a page that no longer
    draws it (check after each run, or after two runs on the same page)."""
    from ui.screens import is_declared

    widgets |= widget_keys(at)
    return {k for k in at.session_state.keys() if k not in widgets and not is_declared(k)}


def wait_for_chart(at: AppTest, key: str, seconds: float = 180) -> dict:
    """Rerun until the chart `key` is drawn (work a server does in the background, e.g. the top-9's pass, shows a
    polling progress bar first; fragments do not tick in AppTest), then return it."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        assert not at.exception, [e.value for e in at.exception]
        try:
            return chart(at, key)
        except AssertionError:
            if time.monotonic() > deadline or at.error:
                raise
        time.sleep(0.2)
        at.run()
