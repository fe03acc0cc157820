"""A class in real browsers: one instructor at a 1920×1080 projector (presenter view) and two students on phones
(390×844, touch). The students join by code; the instructor asks about the Convolution view from the sidebar; the
question appears on both phones without a click (their page polls); their taps reach the projector's count; the
reveal shows the share who had it right, and the phones say who did. Screenshots in English and French."""

import re
import time

import pytest
from playwright.sync_api import expect

from cnnviz.classroom import ClassStore
from tests.e2e.conftest import SHOTS, no_exception, start_server, stop_server, wait_ready

pytestmark = pytest.mark.e2e

KEY = "an instructor key for the browser test"
TEXT = {
    "en": {"key": "Instructor key", "start": "Start a class", "waiting": "Waiting for the instructor's question",
           "conv": "Convolution", "ask": "Ask the class about this view",
           "offer": "Multiple choice: which kernel produced this map?", "go": "Ask now",
           "prompt": "Which kernel produced it?", "yours": "Your answer:", "reveal": "Reveal",
           "share": "50% right (1 of 2)", "right": "You had it right.", "wrong": "Not this time"},
    "fr": {"key": "Clé enseignant", "start": "Ouvrir une classe", "waiting": "En attente de la question",
           "conv": "Convolution", "ask": "Interroger la classe sur cette vue",
           "offer": "Choix multiple\u00a0: quel noyau a produit cette carte\u00a0?", "go": "Poser la question",
           "prompt": "Quel noyau l'a produite\u00a0?", "yours": "Votre réponse\u00a0:", "reveal": "Révéler",
           "share": "50\u00a0% de bonnes réponses (1 sur 2)", "right": "Vous aviez la bonne réponse.",
           "wrong": "Pas cette fois"},
}


@pytest.fixture(scope="module")
def class_server(tmp_path_factory):
    """A server of its own: a class database in a temporary folder and a known instructor key."""
    url = f"sqlite:///{tmp_path_factory.mktemp('classdb') / 'class.sqlite'}"
    proc, base = start_server(tmp_path_factory, CNNVIZ_DB=url, CNNVIZ_INSTRUCTOR_KEY=KEY)
    yield base, url
    stop_server(proc)


def phone(browser, lang: str):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                              has_touch=True, locale="fr-FR" if lang == "fr" else "en-GB")
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    return ctx, page


def shot(page, name: str) -> None:
    """What the screen shows (the viewport), as a projector or a phone shows it."""
    path = SHOTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(600)  # plotly's transition
    page.screenshot(path=str(path))


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_class_from_join_to_reveal(class_server, browser, lang):
    base, url = class_server
    text = TEXT[lang]
    folder = "" if lang == "en" else "fr/"
    contexts = []
    try:
        proj_ctx = browser.new_context(viewport={"width": 1920, "height": 1080},
                                       locale="fr-FR" if lang == "fr" else "en-GB")
        contexts.append(proj_ctx)
        projector = proj_ctx.new_page()
        projector.set_default_timeout(60_000)
        projector.goto(f"{base}/class?lang={lang}&present=1")
        wait_ready(projector)
        projector.get_by_label(text["key"], exact=True).fill(KEY)
        projector.get_by_role("button", name=text["start"]).click()
        title = projector.locator('[data-testid="stMain"] h1').filter(has_text=re.compile(r"[A-Z0-9]{6}$"))
        title.wait_for()
        code = re.search(r"([A-Z0-9]{6})$", title.inner_text().strip()).group(1)
        wait_ready(projector)
        assert KEY not in projector.content()  # never on the projector
        assert f"/class?code={code}" in projector.get_by_test_id("stMain").inner_text()
        expect(projector.get_by_test_id("stImage").first).to_be_visible()  # the QR code
        shot(projector, f"{folder}classroom_join.png")

        phones = []
        for _ in range(2):
            ctx, page = phone(browser, lang)
            contexts.append(ctx)
            page.goto(f"{base}/class?code={code}&lang={lang}")
            wait_ready(page)
            page.get_by_text(text["waiting"]).wait_for()
            phones.append(page)

        # the instructor shows the Convolution screen and asks about it from the sidebar
        expand = projector.get_by_test_id("stExpandSidebarButton")
        if expand.count() and expand.is_visible():
            expand.click()
        projector.get_by_test_id("stSidebarNavLink").filter(has_text=text["conv"]).first.click()
        wait_ready(projector)
        if expand.count() and expand.is_visible():
            expand.click()
        projector.get_by_test_id("stSidebar").get_by_text(text["ask"]).click()
        body = projector.get_by_test_id("stPopoverBody")
        body.get_by_text(text["offer"]).click()
        wait_ready(projector)
        asked = time.monotonic()
        projector.get_by_test_id("stPopoverBody").get_by_role("button", name=text["go"]).click()

        projector.get_by_test_id("stSidebar").hover()  # the instructor folds the sidebar again
        projector.get_by_test_id("stSidebarCollapseButton").locator("button").click()

        # both phones show it, nobody clicks
        waits = []
        for page in phones:
            page.get_by_text(text["prompt"]).wait_for(timeout=30_000)
            waits.append(time.monotonic() - asked)
        print(f"\n{lang}: the question appeared on the phones {waits[0]:.1f} s and {waits[1]:.1f} s after the click")
        store = ClassStore(url)
        qid = store.current(code)["id"]
        right = store.results(code, qid, KEY)["answer"]
        store.dispose()
        letters = "ABCD"
        for page, letter in zip(phones, [letters[right], letters[(right + 1) % 4]]):
            wait_ready(page)
            page.get_by_role("button", name=letter, exact=True).tap()
            page.get_by_text(f"{text['yours']} {letter}").wait_for()
        expect(projector.get_by_test_id("stMetricValue")).to_have_text("2", timeout=30_000)
        wait_ready(projector)
        shot(projector, f"{folder}classroom_projector.png")
        shot(phones[0], f"{folder}classroom_phone.png")

        projector.get_by_role("button", name=text["reveal"]).click()
        projector.get_by_text(text["share"]).wait_for()
        phones[0].get_by_text(text["right"]).wait_for(timeout=30_000)
        phones[1].get_by_text(text["wrong"]).wait_for(timeout=30_000)
        wait_ready(projector)
        shot(projector, f"{folder}classroom_reveal.png")
        shot(phones[1], f"{folder}classroom_phone_reveal.png")
        projector.set_viewport_size({"width": 1280, "height": 720})  # a smaller projector
        shot(projector, f"presenter/{folder}classroom.png")
        for page in [projector, *phones]:
            no_exception(page)
    finally:
        for ctx in contexts:
            ctx.close()
