"""Warm a freshly started server: open, one after the other, the views a lecture opens — the home page's lecture
path (ui.screens.LECTURE_PATH), then every screen's default view — so that the first students do not pay for them.

    python -m deploy.warmup http://127.0.0.1:8601          # prints each view's time
    python -m deploy.warmup http://127.0.0.1:8601 --lang en

Each view runs once through app.py, as a browser tab would (deploy/tab.py): the network, the datasets and the
figures of these views land in the server's shared caches (ui/shared_cache.py), and the server leaves
Streamlit's legacy pages mode (ui.frame.require_app), in which a fresh server's first deep link — or a
student's page reconnecting to it after their replica died — would otherwise start.

Who runs it:
- every server, on itself, once per process (`in_background`, started by ui.frame's once-per-server start-up,
  i.e. by its first visitor's run, which does not wait for it): a daemon thread opens the views over loopback,
  one after the other, and prints one line with the time and what it computed. `CNNVIZ_WARM=0` turns it off
  (the tests do); `CNNVIZ_WARM=fr,en` warms these languages (default: fr, the course's);
- deploy/class_server.py, on every replica once it is up (the replicas' own is off: CNNVIZ_WARM=0).

The views are real page runs rather than calls of the shared-cache functions: a figure is keyed by all its
arguments, translated titles included, which only the page itself knows.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import threading
import time
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


WARM_ENV = "CNNVIZ_WARM"
LANGS = ("fr", "en")


def languages(env=os.environ) -> list[str]:
    """The languages to warm from CNNVIZ_WARM: [] when it is 0 / off / no, else its known languages (fr, en),
    fr when it names none (1, yes, unset)."""
    raw = (env.get(WARM_ENV) or "").strip().lower()
    if raw in ("0", "off", "no", "false"):
        return []
    asked = [x.strip() for x in raw.split(",") if x.strip() in LANGS]
    return list(dict.fromkeys(asked)) or ["fr"]


def own_url() -> str | None:
    """This Streamlit server as a tab on the same machine reaches it (http://127.0.0.1:PORT/base), from its own
    configuration; None when a plain-HTTP tab cannot (TLS)."""
    from streamlit import config

    if config.get_option("server.sslCertFile"):
        return None
    address = (config.get_option("server.address") or "").strip()
    if address in ("", "0.0.0.0", "::", "localhost"):
        address = "127.0.0.1"
    elif ":" in address:  # an IPv6 address
        address = f"[{address}]"
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{address}:{config.get_option('server.port')}" + (f"/{base}" if base else "")


def in_background(base: str, langs: list[str], delay: float = 2.0, say=None) -> threading.Thread:
    """Open the lecture's views on the server at `base`, in each of `langs`, in a daemon thread that first waits
    `delay` seconds (the run that started it ends first); one line said when done: views, seconds, errors, and
    what the server computed meanwhile (cnnviz.shared.CALLS: maps, figures, styled figures)."""
    from cnnviz import shared

    say = say or (lambda text: print(text, file=sys.stderr, flush=True))

    def run() -> None:
        time.sleep(delay)
        before, t0 = dict(shared.CALLS), time.monotonic()
        runs = [r for lang in langs for r in warm(base, lang)]
        computed = {k: n - before.get(k, 0) for k, n in sorted(shared.CALLS.items()) if n > before.get(k, 0)}
        failed = [f"{r.screen} ({r.error})" for r in runs if r.error]
        gc.collect()  # what the warm-up left behind, then the rest (the warmed caches, the pages' modules) kept out
        gc.freeze()  # of later full collections (ui.frame._collect_less)
        say(f"cnnviz warm-up: {len(runs)} views ({', '.join(langs)}) opened in {time.monotonic() - t0:.1f} s,"
            f" {len(failed)} errors{': ' + '; '.join(failed) if failed else ''}; computed "
            + ", ".join(f"{k} x{n}" for k, n in computed.items()))

    thread = threading.Thread(target=run, name="cnnviz-warm-up", daemon=True)
    thread.start()
    return thread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="the server, e.g. http://127.0.0.1:8601")
    ap.add_argument("--lang", default="fr", choices=["fr", "en"])
    args = ap.parse_args()
    for run in warm(args.url, args.lang):
        print(f"{run.screen}: {run.seconds:.2f} s, {run.nbytes / 1e3:,.0f} kB{'  ERROR ' + run.error if run.error else ''}")


if __name__ == "__main__":
    main()
