"""The Class screen (live questions in a lecture hall) and "Ask the class about this view" in the sidebar.

Three faces of one page, /class:
- nobody's class yet: a join form (the code on the projector) and, for the instructor, "Start a class" with the key;
- the instructor (a session that opened or took back the class with the key): the join code and its QR code, large
  in the presenter view; the question, the live count and histogram (a fragment polling the database every second),
  Close vote, Reveal, Vote again (both rounds side by side), quick questions, the CSV of the results;
- a student (/class?code=K7M2QX, on a phone): anonymous (a random id in the session), an optional nickname;
  a fragment polls the class's version number (one primary-key read, shared by the students of a process for half a
  second) and redraws the page when the instructor asks, closes or reveals; answers are sent at a tap and can change
  until the vote closes. The page never holds the answer before the reveal (ClassStore.current leaves it out).

The questions themselves come from cnnviz.class_questions; the database from cnnviz.classroom.
"""

from __future__ import annotations

import io
import secrets
import time

import numpy as np
import streamlit as st

from cnnviz import CnnvizError
from cnnviz import class_questions as cq
from cnnviz.classroom import ClassStore, default_url, instructor_key, normalize_code, same_key
from cnnviz.i18n import format_number
from ui.charts import chart
from ui.screens import BY_ID
from ui.widgets import class_name, plain, presenting, show_error

POLL_SECONDS = 1.0  # a student's page asks the database this often whether anything changed
PROJECTOR_SECONDS = 1.0  # the instructor's count and histogram
VERSION_TTL = 0.5  # s: the students of one process share one read of their class's version
MAX_BARS = 10  # distinct numeric answers drawn; the rest go into "other"
MAX_KEY_FAILURES = 10  # wrong keys per session before the instructor form stops trying
TEACHER, STUDENT, SEEN, FAILS = "_class_teacher", "_class_student", "_class_seen", "_class_fails"
CSS = """
<style>
.st-key-class_code_big [data-testid="stMarkdownContainer"] p, .st-key-class_code_huge [data-testid="stMarkdownContainer"] p {
  font-size: min(4rem, 3.2vw) !important; font-weight: 700; letter-spacing: 0.08em; line-height: 1.1;
  font-family: monospace; white-space: nowrap; }
.st-key-class_code_huge [data-testid="stMarkdownContainer"] p { font-size: min(9rem, 7vw) !important; }
.st-key-class_answers button { min-height: 3.4rem; font-size: 1.25rem !important; }
.st-key-class_count [data-testid="stMetricValue"], .st-key-class_count [data-testid="stMetricValue"] * {
  font-size: 4rem !important; line-height: 1.1; }
</style>
"""  # our own constant style sheet: nothing from a user goes in it


# ---------------------------------------------------------------- shared resources

@st.cache_resource(show_spinner=False)
def store(url: str) -> ClassStore:
    """One store (engine and connection pool) per database and process."""
    return ClassStore(url)


def current_store() -> ClassStore:
    return store(default_url())


@st.cache_resource(show_spinner=False)
def _versions() -> dict:
    return {}


def class_version(db: ClassStore, code: str) -> int:
    """The class's version, read at most every VERSION_TTL seconds per process (raises CnnvizError)."""
    cache = _versions()
    now = time.monotonic()
    hit = cache.get(code)
    if hit is not None and now - hit[0] < VERSION_TTL:
        return hit[1]
    version = db.version(code)
    cache[code] = (now, version)
    return version


def forget_version(code: str) -> None:
    _versions().pop(code, None)


def server_key() -> str:
    """CNNVIZ_INSTRUCTOR_KEY, or the random key printed on the server's console the first time it is needed."""
    return instructor_key()


def teacher_of(code: str | None) -> dict | None:
    teacher = st.session_state.get(TEACHER)
    return teacher if teacher and (code is None or teacher["code"] == code) else None


# ---------------------------------------------------------------- rendering a question

def option_label(t, option: dict, i: int) -> str:
    """What a student taps: A, B… (a kernel's grid is shown above under its letter), a class name, or a catalogue
    text (plain text: the option came from the database)."""
    if "class" in option:
        return class_name(str(option["class"]))
    if "id" in option and str(option["id"]).startswith("class.opt."):
        return t(str(option["id"]))
    return cq.LETTERS[i] if i < len(cq.LETTERS) else str(i + 1)


def value_label(t, kind: str, question: dict, value) -> str:
    if kind == "truefalse":
        return t("class.true") if value else t("class.false")
    if kind == "choice":
        options = question.get("options", [])
        return option_label(t, options[value], value) if 0 <= value < len(options) else str(value)
    return format_number(t.lang, value)


def _text(t, message: dict) -> str:
    """A catalogue message of a question ({"id", "params"}) in the reader's language; string parameters as plain
    text (they came from the database)."""
    msg_id = str(message.get("id", ""))
    if not msg_id.startswith("class."):
        return ""
    params = {k: plain(v) if isinstance(v, str) else v for k, v in (message.get("params") or {}).items()}
    return t(msg_id, **params)


def _grid_text(t, rows) -> str:
    cells = [[c if isinstance(c, str) else format_number(t.lang, c) for c in row] for row in rows]
    width = max((len(c) for row in cells for c in row), default=1)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)


def show_question(t, q: dict, big: bool = False) -> None:
    """The question as students read it: its text, the layers, the grids, the image, the kernels to choose from."""
    title = t("class.question_round", n=q["number"], round=q["round"]) if q.get("round", 1) > 1 \
        else t("class.question_n", n=q["number"])
    st.subheader(title)
    st.markdown(_text(t, q.get("prompt", {})))
    for line in q.get("lines", []):
        st.markdown("- " + _text(t, line))
    grids = q.get("grids", [])
    if grids:
        for col, grid in zip(st.columns(len(grids)), grids):
            col.caption(_text(t, grid.get("label", {})))
            col.code(_grid_text(t, grid["values"]), language=None)
    if q.get("image"):
        img = np.asarray(q["image"], dtype=np.uint8)
        scale = max(1, (220 if big else 140) // max(img.shape[:2]))
        st.image(np.kron(img, np.ones((scale, scale) + (1,) * (img.ndim - 2), dtype=np.uint8)), clamp=True)
    options = q.get("options", [])
    if any("grid" in o for o in options):
        cols = st.columns(2)  # two kernels a row: a 3×3 grid of signed numbers stays readable on a projector
        for i, option in enumerate(options):
            with cols[i % len(cols)]:
                st.caption(cq.LETTERS[i])
                st.code(_grid_text(t, option["grid"]), language=None)


# ---------------------------------------------------------------- the page

def page(t, state) -> None:
    S = st.session_state
    st.markdown(CSS, unsafe_allow_html=True)  # constant, see CSS
    try:
        code = normalize_code(state.code) if state.code else None
    except CnnvizError:
        code, state.code = None, ""
    if teacher_of(code) and code:
        instructor_page(t, state, S[TEACHER])
    elif code is None and teacher_of(None):  # the instructor came back to /class without the code
        state.code = S[TEACHER]["code"]
        instructor_page(t, state, S[TEACHER])
    elif code:
        student_page(t, state, code)
    else:
        join_page(t, state)


def join_page(t, state) -> None:
    st.title(t("class.title"))
    if not presenting():
        st.markdown(t("class.intro"))
    with st.form("class_join", border=False):
        typed = st.text_input(t("class.join_code"), max_chars=20, key="class_join_code",
                              placeholder="K7M2QX", help=t("class.join_code_help"))
        if st.form_submit_button(t("class.join"), type="primary", icon=":material/login:"):
            try:
                code = normalize_code(typed)
                current_store().version(code)
            except CnnvizError as exc:
                show_error(exc)
            else:
                state.code = code
                st.rerun()
    st.divider()
    instructor_form(t, state, None)


def instructor_form(t, state, code: str | None) -> None:
    """Start a class (no code), or take back class `code` (after a reload), with the instructor key."""
    S = st.session_state
    with st.expander(t("class.instructor") if code is None else t("class.instructor_take"), expanded=code is None
                     and presenting()):
        st.text_input(t("class.key"), type="password", max_chars=200, key="class_key", help=t("class.key_help"))
        st.button(t("class.start") if code is None else t("class.take"), key="class_start", type="primary",
                  icon=":material/co_present:", on_click=_become_teacher, args=(state, code))
        error = S.pop("_class_key_error", None)
        if error is not None:
            show_error(error) if isinstance(error, CnnvizError) else st.error(t("class.too_many_keys"))


def _become_teacher(state, code: str | None) -> None:
    """The key's button (a callback: it runs before the widgets, so the typed key can be wiped from the page)."""
    S = st.session_state
    key = S.get("class_key") or ""
    S["class_key"] = ""
    if S.get(FAILS, 0) >= MAX_KEY_FAILURES:
        S["_class_key_error"] = "too_many"
        return
    try:
        if code is None:
            if not same_key(key, server_key()):
                raise CnnvizError("err.class_key")
            code = current_store().open_class(key)
        else:
            current_store().check_key(code, key)
    except CnnvizError as exc:
        S[FAILS] = S.get(FAILS, 0) + 1
        time.sleep(0.3)  # a wrong key costs a little time: guessing one is slow
        S["_class_key_error"] = exc
        return
    S[TEACHER] = {"code": code, "key": key}
    state.code = code


# ---------------------------------------------------------------- students

def student_id() -> str:
    S = st.session_state
    if STUDENT not in S:
        S[STUDENT] = secrets.token_hex(8)  # anonymous: nothing about the person, new in each browser session
    return S[STUDENT]


def student_page(t, state, code: str) -> None:
    S = st.session_state
    db = current_store()
    st.title(t("class.title_code", code=code))
    try:
        version = db.version(code)
        q = db.current(code)
    except CnnvizError as exc:
        show_error(exc)
        state.code = ""
        join_page(t, state)
        return
    S[SEEN] = (code, version)
    poll(code)
    if q is None:
        st.info(t("class.waiting"), icon=":material/hourglass_empty:")
    else:
        student_question(t, code)
    with st.expander(t("class.nickname_title")):
        st.text_input(t("class.nickname"), max_chars=40, key="class_nick", help=t("class.nickname_help"))
        nick = (S.get("class_nick") or "").strip()
        if nick:
            st.caption(t("class.nickname_shown", name=plain(nick)))
    instructor_form(t, state, code)


@st.fragment(run_every=POLL_SECONDS)
def poll(code: str) -> None:
    """Every POLL_SECONDS: has the class changed since this page was drawn? Then draw the page again."""
    seen = st.session_state.get(SEEN)
    try:
        version = class_version(current_store(), code)
    except CnnvizError:
        return  # the page says it at its next full run
    if seen is not None and seen != (code, version):
        st.rerun(scope="app")


@st.fragment
def student_question(t, code: str) -> None:
    """The question and the student's answer. A fragment: a tap reruns this (a few ms of the server's time), not
    the whole page (sixty taps in one second on two cores)."""
    db = current_store()
    try:
        q = db.current(code)
    except CnnvizError as exc:
        show_error(exc)
        return
    if q is None:  # ended since the page was drawn: the poll redraws the page
        st.info(t("class.waiting"), icon=":material/hourglass_empty:")
        return
    me = student_id()
    show_question(t, q)
    mine = db.my_answer(code, q["id"], me)
    kind, status = q["kind"], q["status"]
    if status == "open":
        answer_widgets(t, db, code, q, mine)
    elif status == "closed":
        st.info(t("class.closed"), icon=":material/lock:")
    if mine is not None:
        st.markdown(t("class.your_answer", value=plain(value_label(t, kind, q, mine))))
    if status == "revealed":
        if q.get("answer") is None:
            st.info(t("class.no_right_answer"))
        else:
            right = value_label(t, kind, q, q["answer"])
            st.success(t("class.right_answer", value=plain(right)), icon=":material/check_circle:")
            if mine is not None:
                from cnnviz.classroom import is_correct

                ok = is_correct(kind, mine, q["answer"], q.get("tolerance", 0.0))
                st.markdown(t("class.you_right") if ok else t("class.you_wrong"))


def _send(db: ClassStore, code: str, qid: int, value) -> None:
    S = st.session_state
    try:
        db.answer(code, qid, student_id(), value, nickname=(S.get("class_nick") or "").strip() or None)
        S["_class_error"] = None
    except CnnvizError as exc:
        S["_class_error"] = exc


def _send_number(db: ClassStore, code: str, qid: int, lang: str) -> None:
    """The form's Send: the typed number read as on the Exercises screen ("0,5" in French), then sent."""
    from cnnviz.exercises import parse_answer

    try:
        value = parse_answer(st.session_state.get(f"class_num_{qid}") or "", lang)
    except CnnvizError as exc:
        st.session_state["_class_error"] = exc
        return
    _send(db, code, qid, value)


def answer_widgets(t, db: ClassStore, code: str, q: dict, mine) -> None:
    """Numbers typed the reader's way; a choice or true/false at a tap (the chosen one highlighted)."""
    S = st.session_state
    qid, kind = q["id"], q["kind"]
    with st.container(key="class_answers"):
        if kind == "numeric":
            with st.form(f"class_form_{qid}", border=False):
                st.text_input(t("class.your_number"), max_chars=40, key=f"class_num_{qid}",
                              placeholder=format_number(t.lang, 0.5), help=t("class.number_help"))
                st.form_submit_button(t("class.send"), type="primary", width="stretch", on_click=_send_number,
                                      args=(db, code, qid, t.lang))
        else:
            values = [True, False] if kind == "truefalse" else list(range(len(q.get("options", []))))
            for value in values:
                st.button(value_label(t, kind, q, value), key=f"class_pick_{qid}_{value}", width="stretch",
                          type="primary" if mine == value and mine is not None else "secondary",
                          on_click=_send, args=(db, code, qid, value))
    error = S.pop("_class_error", None)
    if error is not None:
        show_error(error)
    if mine is None:
        st.caption(t("class.change_until_close"))


# ---------------------------------------------------------------- the instructor

def join_url(code: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(getattr(st.context, "url", None) or "")
    base = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return f"{base}/class?code={code}"


@st.cache_data(show_spinner=False, max_entries=64)
def qr_png(url: str) -> bytes:
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=12, border=2)
    return buf.getvalue()


def instructor_page(t, state, teacher: dict) -> None:
    """The projector. No question yet: the join code and its QR code, as large as the screen allows. A question: the
    question beside its live count and histogram, the code and a smaller QR code at the right (for latecomers)."""
    code, key = teacher["code"], teacher["key"]
    db = current_store()
    url = join_url(code)
    try:
        asking = db.current(code) is not None
    except CnnvizError as exc:
        show_error(exc)
        return
    if asking:
        left, right = st.columns([4.6, 1.4])
    else:
        left, right = st.columns([1.2, 1], gap="large")
    with right if asking else left:
        if not asking:
            st.title(t("class.title_code", code=code))
        st.caption(t("class.join_at"))
        st.code(url, language=None, wrap_lines=True)  # the browser's own address (never rendered as a link)
        with st.container(key="class_code_big" if asking else "class_code_huge"):
            st.markdown(code)
    with right:
        st.image(qr_png(url), width="stretch")
    with left:
        if asking:
            st.title(t("class.title_code", code=code))
            live(t, code, key)
        else:
            st.info(t("class.no_question"), icon=":material/campaign:")
    st.divider()
    c1, c2, c3, c4 = st.columns(4)
    if c1.button(t("class.quick_choice"), key="class_quick_choice", icon=":material/format_list_bulleted:"):
        ask(db, code, key, cq.quick_choice())
    if c2.button(t("class.quick_truefalse"), key="class_quick_tf", icon=":material/rule:"):
        ask(db, code, key, cq.quick_truefalse())
    c3.download_button(t("class.csv"), data=lambda: results_csv(t, db, code, key), key="class_csv",
                       file_name=f"class-{code}.csv", mime="text/csv", icon=":material/download:", on_click="ignore")
    if c4.button(t("class.leave"), key="class_leave", type="tertiary"):
        st.session_state.pop(TEACHER, None)
        state.code = ""
        st.rerun()
    if not presenting():
        st.caption(t("class.how_to_ask"))


def ask(db: ClassStore, code: str, key: str, question: dict) -> None:
    try:
        db.ask(code, key, question)
    except CnnvizError as exc:
        show_error(exc)
        return
    forget_version(code)
    st.rerun()


def results_csv(t, db: ClassStore, code: str, key: str) -> str:
    return db.results_csv(code, key, describe=lambda q: _text(t, q.get("prompt", {})))


@st.fragment(run_every=PROJECTOR_SECONDS)
def live(t, code: str, key: str) -> None:
    """The current question beside its live count and histogram (every round of it), and its buttons."""
    db = current_store()
    try:
        q = db.current(code)
        rounds = db.rounds(code, q["id"], key) if q else []
    except CnnvizError as exc:
        show_error(exc)
        return
    if q is None:
        st.info(t("class.no_question"), icon=":material/campaign:")
        return
    now = rounds[-1]
    status, revealed = now["status"], now["status"] == "revealed"
    ask_col, count_col = st.columns([1, 1.25], gap="large")
    with ask_col:
        show_question(t, q, big=True)
    with count_col:
        with st.container(key="class_count"):
            st.metric(t("class.count"), str(now["count"]))
        top = max((max(r["values"].values(), default=0) for r in rounds), default=0)
        cols = st.columns(len(rounds)) if len(rounds) > 1 else [st.container()]
        for col, r in zip(cols, rounds):
            with col:
                chart(histogram(t, r, revealed, top), key=f"class_hist_{r['round']}", config={"displayModeBar": False})
                if revealed and r["answer"] is not None:
                    share = 0.0 if r["share"] is None else r["share"]
                    st.markdown(t("class.share", round=r["round"], share=share, right=r["correct"], n=r["count"]))
        if revealed:
            if now["answer"] is None:
                st.info(t("class.no_right_answer"))
            else:
                st.success(t("class.right_answer", value=plain(value_label(t, q["kind"], q, now["answer"]))),
                           icon=":material/check_circle:")
        b1, b2 = st.columns(2)
        if b1.button(t("class.close"), key="class_close", disabled=status != "open", icon=":material/lock:",
                     width="stretch"):
            act(db.close, code, now["id"], key)
        if b2.button(t("class.reveal"), key="class_reveal", disabled=revealed, icon=":material/visibility:",
                     type="primary", width="stretch"):
            act(db.reveal, code, now["id"], key)
        if b1.button(t("class.vote_again"), key="class_again", icon=":material/replay:", width="stretch",
                     disabled=revealed, help=t("class.vote_again_help")):
            act(db.vote_again, code, now["id"], key)
        if b2.button(t("class.end"), key="class_end", icon=":material/stop_circle:", width="stretch"):
            act(lambda c, _q, k: db.stop_asking(c, k), code, now["id"], key)
        names = db.nicknames(code, now["id"], key)
        if names and not presenting():
            with st.expander(t("class.nicknames")):
                for value, people in names.items():
                    st.markdown(plain(f"{value_label(t, q['kind'], q, value)}: {', '.join(people)}"))


def act(action, code: str, qid: int, key: str) -> None:
    try:
        action(code, qid, key)
    except CnnvizError as exc:
        show_error(exc)
        return
    forget_version(code)
    st.rerun(scope="app")


def histogram(t, r: dict, revealed: bool, top: int):
    """One round's answers as bars (the right ones green once revealed); numbers beyond MAX_BARS as "other"."""
    q = r["question"]
    items = list(r["values"].items())
    if q["kind"] == "choice":
        items = [(i, r["values"].get(i, 0)) for i in range(len(q.get("options", [])))]
    elif q["kind"] == "truefalse":
        items = [(True, r["values"].get(True, 0)), (False, r["values"].get(False, 0))]
    else:
        items = sorted(items[:MAX_BARS])
    labels = [value_label(t, q["kind"], q, v) for v, _ in items]
    counts = [n for _, n in items]
    from cnnviz.classroom import is_correct

    correct = [is_correct(q["kind"], v, r["answer"], r["tolerance"]) if revealed else None for v, _ in items]
    hidden = sum(r["values"].values()) - sum(counts)
    if hidden:
        labels.append(t("class.other"))
        counts.append(hidden)
        correct.append(False if revealed and r["answer"] is not None else None)
    title = t("class.round_title", round=r["round"], n=r["count"])
    return cq.histogram_figure(labels, counts, correct, title, t("class.count_axis"),
                               height=430 if presenting() else 380, y_max=top)


# ---------------------------------------------------------------- "Ask the class about this view"

def ask_button(t, screen) -> None:
    """The sidebar's "Ask the class about this view", for a session that holds a class with the key (nothing for
    anyone else: one dict lookup). Builds the question from the screen's current settings, asks it, and opens the
    Class screen on it."""
    S = st.session_state
    server_key()  # the first page view of the process prints the random key on the console (when none is set)
    teacher = S.get(TEACHER)
    if teacher is None or screen is None or screen.id == "class":
        return
    choices = dict(cq.offers(screen.id, have_network=screen.id in ("feature_maps", "translation")))
    with st.popover(t("class.ask"), icon=":material/campaign:", width="stretch"):
        offer = st.radio(t("class.ask_which"), list(choices), format_func=lambda o: t(choices[o]),
                         key="class_offer")
        if st.button(t("class.ask_go"), key="class_ask", type="primary", icon=":material/send:", width="stretch"):
            question = build_for_view(screen, offer)
            if question is None:
                st.error(t("class.ask_none"))
                return
            try:
                current_store().ask(teacher["code"], teacher["key"], question)
            except CnnvizError as exc:
                show_error(exc)
                return
            forget_version(teacher["code"])
            st.switch_page(str(BY_ID["class"].file))


def build_for_view(screen, offer: str) -> dict | None:
    """The question `offer` about the view the session shows now (its settings; the network's answer on its image)."""
    S = st.session_state
    settings = {f.name: S.get(screen.key(f.name), f.default) for f in screen.fields}
    seed = secrets.randbelow(1000)
    extra = {}
    if offer in cq.NEEDS_NETWORK:
        extra = network_view(screen, settings)
        if extra is None:
            return None
    if screen.id == "architecture":
        from ui.screens import ARCH_SHAPES

        extra["input_shape"] = ARCH_SHAPES.get(settings["preset"]) or (settings["c"], settings["h"], settings["w"])
    if offer in ("numeric", "numeric_more"):
        seed = 0
    return cq.build(offer, screen.id, settings, seed, **extra)


def network_view(screen, settings: dict) -> dict | None:
    """The network's answer on the view's test image (or drawing): probs, classes, image, label; and for
    Translation the probabilities after its shift. None when the view has no such image (an upload)."""
    from cnnviz.checkpoints import list_checkpoints
    from cnnviz.explore import inspect
    from cnnviz.shift import shift_image
    from ui.widgets import images_for, network

    paths = {p.name: p for p in list_checkpoints()}
    path = paths.get(settings.get("network"))
    if path is None:
        return None
    model, meta = network(str(path), path.stat().st_mtime)
    label = None
    if settings.get("source") == "test":
        data = images_for(meta["dataset"])
        pool = np.arange(len(data)) if settings["cls"] == "any" else np.flatnonzero(data.labels == int(settings["cls"]))
        if not len(pool):
            return None
        i = int(pool[min(max(int(settings["idx"]), 0), len(pool) - 1)])
        image, label = data.images[i], int(data.labels[i])
    elif settings.get("source") == "draw":
        image = st.session_state.get(screen.key("drawn"))
        if image is None:
            return None
    else:
        return None
    out = {"probs": inspect(model, image).probs, "classes": list(meta["classes"]), "image": image, "label": label}
    if screen.id == "translation":
        moved = shift_image(image, int(settings["dx"]), int(settings["dy"]), bool(settings["circular"]))
        out["shifted_probs"] = inspect(model, moved).probs
    return out
