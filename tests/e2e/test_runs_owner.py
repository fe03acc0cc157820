"""Real browser (issue 22, items 3 and 9): Stop answers at once and the test phase follows with its progress; the
browser that trained a run keeps it after a reload (its cookie), another browser sees it as another student's."""

import re
import time

from tests.e2e.conftest import no_exception, screenshot, wait_ready
from tests.e2e.test_browser import start_training


def shown_choice(page, label: str) -> str:
    """What the select box labelled `label` shows (its text and its input's value: the chosen option's label)."""
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).first
    box.wait_for()
    page.wait_for_timeout(500)
    return box.inner_text() + " " + box.evaluate("b => [...b.querySelectorAll('input')].map(i => i.value).join(' ')")


def test_stop_at_once_then_the_run_is_this_browser_s(server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = ctx.new_page()
        page.set_default_timeout(90_000)
        start_training(page, server)
        page.wait_for_timeout(2500)
        t0 = time.monotonic()
        page.get_by_role("button", name="Stop", exact=True).click()
        stop = page.get_by_role("button", name="Stop", exact=True)
        while not stop.is_disabled():
            page.wait_for_timeout(50)
        answered = time.monotonic() - t0
        print(f"Stop answered in the browser after {answered:.2f} s")  # a figure, not an assertion (shared machine)
        page.get_by_text("Confusion matrix").first.wait_for(timeout=120_000)
        wait_ready(page)
        no_exception(page)
        print(f"test phase shown {time.monotonic() - t0:.2f} s after Stop")
        cookie = next(c for c in ctx.cookies() if c["name"] == "cnnviz_owner")
        assert re.fullmatch(r"[0-9a-f]{32}", cookie["value"]) and cookie["sameSite"] == "Strict"
        run = re.search(r"Saved as (\S+\.pt)", page.get_by_test_id("stMain").inner_text()).group(1)
        page.get_by_text("Rename, delete or download").click()
        assert f"Yours — {run}" in shown_choice(page, "Saved run")
        page.reload()  # a new session of the same browser: the cookie brings the token back
        wait_ready(page)
        page.get_by_text("Rename, delete or download").click()
        assert f"Yours — {run}" in shown_choice(page, "Saved run")
        screenshot(page, "training_runs_yours")
        classmate = other.new_page()
        classmate.set_default_timeout(90_000)
        classmate.goto(f"{server}/training?lang=fr")
        wait_ready(classmate)
        classmate.get_by_text("Renommer, supprimer ou télécharger").click()
        assert f"D'un autre étudiant — {run}" in shown_choice(classmate, "Entraînement enregistré")
        assert classmate.get_by_role("button", name="Renommer").is_disabled()
        screenshot(classmate, "training_runs_others_fr")
        no_exception(classmate)
    finally:
        ctx.close()
        other.close()
