"""Warm a freshly started server: open, one after the other, the views a lecture opens — every screen's default
view and the home page's lecture path (ui.screens.LECTURE_PATH) — so that the first students do not pay for them.

    python -m deploy.warmup http://127.0.0.1:8601          # prints each view's time
    python -m deploy.warmup http://127.0.0.1:8601 --lang en

Each view runs once through app.py, as a browser tab would (deploy/tab.py): the network, the datasets and the
figures of these views land in the server's shared caches (ui/shared_cache.py), and the server leaves
Streamlit's legacy pages mode (ui.frame.require_app), in which a fresh server's first deep link — or a
student's page reconnecting to it after their replica died — would otherwise start. deploy/class_server.py
runs this on every replica in the background once it is up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.tab import Run, Tab  # noqa: E402


def lecture_views(lang: str = "fr") -> list[tuple[str, str]]:
    """(screen id, query string without lang): the lecture path's links, then every screen's default view."""
    from ui.screens import LECTURE_PATH, SCREENS, query_for

    views = [(screen, urlencode(query_for(screen, None, **values)))
             for _, screen, values in LECTURE_PATH]
    views += [(s.id, "") for s in SCREENS]
    return list(dict.fromkeys(views))


async def _warm(base: str, views: list[tuple[str, str]], lang: str) -> list[Run]:
    out = []
    for screen, extra in views:
        tab = Tab(base, screen, lang, extra)
        try:
            await tab.connect()
            out.append(await tab.run_once())
        except Exception as exc:  # noqa: BLE001 - a warm-up never stops the server: the view is reported
            out.append(Run(screen, True, 0.0, 0, f"{type(exc).__name__}: {exc}"[:200]))
        finally:
            await tab.close()
    return out


def warm(base: str, lang: str = "fr", views: list[tuple[str, str]] | None = None) -> list[Run]:
    """Open each view on the server at `base` (http://host:port), one after the other; their runs."""
    return asyncio.run(_warm(base, lecture_views(lang) if views is None else views, lang))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="the server, e.g. http://127.0.0.1:8601")
    ap.add_argument("--lang", default="fr", choices=["fr", "en"])
    args = ap.parse_args()
    for run in warm(args.url, args.lang):
        print(f"{run.screen}: {run.seconds:.2f} s, {run.nbytes / 1e3:,.0f} kB{'  ERROR ' + run.error if run.error else ''}")


if __name__ == "__main__":
    main()
