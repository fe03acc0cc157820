"""cnnviz.classroom.ClassStore against real databases: an SQLite file and a throwaway PostgreSQL cluster.

The cluster is started once for the session with Debian's initdb/pg_ctl as the `postgres` user (the tests run as
root here: `runuser -u postgres --`), on a free port and a unix socket in a temporary folder, and stopped at the end.
Without the binaries (apt-get install postgresql) the PostgreSQL half is skipped, saying so.

Sixty students answering at once — sixty threads, and sixty threads spread over six processes — lose nothing; a
second answer replaces the first; no answer lands after a close; wrong keys, unknown codes and questions, and
hostile values (10 kB strings, HTML, NaN, wrong types) raise CnnvizError with a catalogue id.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from cnnviz import CnnvizError
from cnnviz import classroom as cr
from cnnviz.classroom import ANSWERS_POOL, ClassStore
from cnnviz.i18n import catalogue

KEY = "correct horse battery staple"
CHOICE = {"kind": "choice", "prompt": {"id": "class.q.quick_choice"},
          "options": [{"letter": c} for c in "ABCD"], "answer": 2}
NUMERIC = {"kind": "numeric", "prompt": {"id": "class.q.conv_output_size",
                                         "params": {"n": 5, "k": 3, "stride": 1, "padding": 0, "dilation": 1}},
           "answer": 3, "tolerance": 0.0}
TRUEFALSE = {"kind": "truefalse", "prompt": {"id": "class.q.tf_right"}, "answer": False}
N_STUDENTS = 60


# ---------------------------------------------------------------- a throwaway PostgreSQL cluster

def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which and shutil.which("initdb") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """postgresql+psycopg:// URL of a cluster made for this test session (skipped without PostgreSQL)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (initdb and pg_ctl not found): apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="cnnviz-pg-"))  # short: the socket path must stay under 107 characters
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    try:
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
                        "-t", "60", "-o", f"-k {root} -p {port} -c listen_addresses='' -c fsync=off "
                                          "-c max_connections=300", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"the PostgreSQL cluster did not start: {exc}\n{getattr(exc, 'stderr', b'')!r}\n{log}")
    yield f"postgresql+psycopg://postgres@/postgres?host={root}&port={port}"
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                   capture_output=True, timeout=120)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs' / 'class.sqlite'}"  # the folder does not exist yet
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(url):
    s = ClassStore(url)
    yield s
    s.dispose()


# ---------------------------------------------------------------- the public entry point

def test_a_class_from_question_to_results(store):
    code = store.open_class(KEY)
    assert cr.CODE_RE.fullmatch(code)
    qid = store.ask(code, KEY, CHOICE)
    store.answer(code, qid, "s1", 2)
    store.answer(code, qid, "s2", 0)
    store.answer(code, qid, "s3", 2, nickname="Ada")
    r = store.results(code, qid, KEY)
    assert r["count"] == 3 and r["values"] == {2: 2, 0: 1}
    assert r["correct"] == 2 and r["share"] == pytest.approx(2 / 3) and r["status"] == "open"
    store.answer(code, qid, "s2", 2)  # a second answer replaces the first
    r = store.results(code, qid, KEY)
    assert r["count"] == 3 and r["values"] == {2: 3}
    assert store.my_answer(code, qid, "s2") == 2 and store.my_answer(code, qid, "nobody") is None


def test_close_refuses_later_answers_and_keeps_the_results(store):
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, NUMERIC)
    store.answer(code, qid, "s1", 3)
    store.answer(code, qid, "s2", "4")  # a plain decimal string is a number too
    store.close(code, qid, KEY)
    with pytest.raises(CnnvizError) as info:
        store.answer(code, qid, "s3", 3)
    assert info.value.code == "err.class_closed"
    with pytest.raises(CnnvizError):
        store.answer(code, qid, "s1", 5)  # nor changed
    r = store.results(code, qid, KEY)
    assert r["count"] == 2 and r["values"] == {3: 1, 4: 1} and r["status"] == "closed" and r["correct"] == 1


def test_students_get_the_answer_only_after_the_reveal(store):
    code = store.open_class(KEY)
    assert store.current(code) is None
    qid = store.ask(code, KEY, NUMERIC)
    seen = store.current(code)
    assert seen["id"] == qid and seen["status"] == "open" and seen["kind"] == "numeric"
    assert "answer" not in seen and "tolerance" not in seen
    assert seen["prompt"] == NUMERIC["prompt"]
    store.close(code, qid, KEY)
    assert "answer" not in store.current(code)
    v = store.version(code)
    store.reveal(code, qid, KEY)
    assert store.version(code) > v
    seen = store.current(code)
    assert seen["status"] == "revealed" and seen["answer"] == 3


def test_vote_again_keeps_the_first_round(store):
    code = store.open_class(KEY)
    first = store.ask(code, KEY, CHOICE)
    for i, v in enumerate([0, 0, 1, 2]):
        store.answer(code, first, f"s{i}", v)
    second = store.vote_again(code, first, KEY)
    assert second != first and store.current(code)["id"] == second and store.current(code)["round"] == 2
    with pytest.raises(CnnvizError):
        store.answer(code, first, "s9", 2)  # the first round closed with the vote again
    for i, v in enumerate([2, 2, 2, 1]):
        store.answer(code, second, f"s{i}", v)
    rounds = store.rounds(code, second, KEY)
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[0]["values"] == {0: 2, 1: 1, 2: 1} and rounds[0]["share"] == 0.25
    assert rounds[1]["values"] == {2: 3, 1: 1} and rounds[1]["share"] == 0.75
    assert rounds[0]["number"] == rounds[1]["number"] == 1
    third = store.vote_again(code, second, KEY)
    assert store.results(code, third, KEY)["round"] == 3


def test_truefalse_and_a_question_without_a_right_answer(store):
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, TRUEFALSE)
    store.answer(code, qid, "a", True)
    store.answer(code, qid, "b", "false")
    r = store.results(code, qid, KEY)
    assert r["values"] == {True: 1, False: 1} and r["correct"] == 1
    quick = store.ask(code, KEY, {**CHOICE, "answer": None})
    store.answer(code, quick, "a", 1)
    r = store.results(code, quick, KEY)
    assert r["count"] == 1 and r["answer"] is None and r["correct"] is None and r["share"] is None
    assert store.current(code)["id"] == quick  # the newest question is the one students see
    store.stop_asking(code, KEY)
    assert store.current(code) is None


# ---------------------------------------------------------------- refusals

def test_a_wrong_key_is_refused_everywhere(store):
    code = store.open_class(KEY)
    other = store.open_class("another instructor")
    qid = store.ask(code, KEY, CHOICE)
    for wrong in ["", "correct horse battery stapl", KEY + " ", "another instructor", None, 12, "x" * 10_000]:
        for call in (lambda k: store.ask(code, k, CHOICE), lambda k: store.close(code, qid, k),
                     lambda k: store.reveal(code, qid, k), lambda k: store.results(code, qid, k),
                     lambda k: store.vote_again(code, qid, k), lambda k: store.check_key(code, k)):
            with pytest.raises(CnnvizError) as info:
                call(wrong)
            assert info.value.code == "err.class_key"
    assert store.results(code, qid, KEY)["status"] == "open"
    assert store.check_key(other, "another instructor") == other
    with pytest.raises(CnnvizError):
        ClassStore(store.url.render_as_string(hide_password=False), instructor_key="server").open_class(KEY)


def test_keys_are_stored_hashed(store, url):
    code = store.open_class(KEY)
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash FROM cnnviz_classes WHERE code = '%s'" % code).scalar()
    assert KEY not in stored and stored.startswith("scrypt$")
    assert cr.key_matches(KEY, stored) and not cr.key_matches(KEY[:-1], stored)
    assert store.open_class(KEY) != code  # each class its own code (and its own salt)


def test_unknown_codes_and_questions(store):
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, CHOICE)
    other = store.open_class(KEY)
    unknown = next(c for c in ("AAAAAA", "CCCCCC", "DDDDDD") if c not in (code, other))
    for call in (lambda: store.answer(unknown, qid, "s1", 1), lambda: store.current(unknown),
                 lambda: store.version(unknown), lambda: store.ask(unknown, KEY, CHOICE),
                 lambda: store.results(unknown, qid, KEY)):
        with pytest.raises(CnnvizError) as info:
            call()
        assert info.value.code == "err.class_unknown"
    for bad in ["", "K7M2Q", "K7M2QXX", "<script>", "x" * 10_000, None, 123456, "O0O0O0", "K7M2Q!"]:
        with pytest.raises(CnnvizError) as info:
            store.answer(bad, qid, "s1", 1)
        assert info.value.code == "err.class_code"
    assert store.version(code.lower()) == store.version(f" {code[:3]}-{code[3:]} ")  # typed as people type
    for missing in [qid + 1000, 0, -1, "1", 1.5, None, True, 2**40]:
        with pytest.raises(CnnvizError) as info:
            store.answer(code, missing, "s1", 1)
        assert info.value.code == "err.class_question"
    with pytest.raises(CnnvizError) as info:  # a question of another class
        store.results(other, qid, KEY)
    assert info.value.code == "err.class_question"
    with pytest.raises(CnnvizError) as info:
        store.answer(other, qid, "s1", 1)
    assert info.value.code == "err.class_question"


HOSTILE = ["x" * 10_000, "<script>alert(1)</script>", "<b>1</b>", "**1**", "1; DROP TABLE cnnviz_answers", "",
           " ", "nan", "NaN", "inf", "1e400", "0x10", "١٢", None, [1], {"a": 1}, b"1", object()]


@pytest.mark.parametrize("question", [NUMERIC, CHOICE, TRUEFALSE], ids=["numeric", "choice", "truefalse"])
def test_hostile_values_are_refused_and_nothing_is_stored(store, question):
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, question)
    extra = {"numeric": [float("nan"), float("inf"), -float("inf"), 1e300, True, False],
             "choice": [4, -1, 1.5, True, "A", "2.0", 10**30],
             "truefalse": [1, 0, "yes", "vrai", 1.0]}[question["kind"]]
    for value in HOSTILE + extra:
        with pytest.raises(CnnvizError) as info:
            store.answer(code, qid, "s1", value)
        assert info.value.code.startswith("err.class_value"), (value, info.value.code)
        for lang in ("en", "fr"):
            text = info.value.message(lang)
            assert text and "{" not in text and not text.startswith("err.")
    for student in ["", "x" * 65, "<b>me</b>", "a b", None, 42, "é"]:
        with pytest.raises(CnnvizError) as info:
            store.answer(code, qid, student, question["answer"])
        assert info.value.code == "err.class_student"
    for nickname in ["x" * 41, "a\x00b", "\u202eevil", 42, ["Ada"]]:
        with pytest.raises(CnnvizError) as info:
            store.answer(code, qid, "s1", question["answer"], nickname=nickname)
        assert info.value.code == "err.class_nickname"
    assert store.results(code, qid, KEY)["count"] == 0
    store.answer(code, qid, "s1", question["answer"], nickname="<img src=x onerror=alert(1)> Ada")
    r = store.results(code, qid, KEY)
    assert r["count"] == 1 and r["correct"] == 1
    assert store.nicknames(code, qid, KEY) == {question["answer"]: ["<img src=x onerror=alert(1)> Ada"]}


def test_malformed_questions_are_refused(store):
    code = store.open_class(KEY)
    for bad in [None, "question", {}, {**CHOICE, "kind": "essay"}, {**CHOICE, "options": [{"letter": "A"}]},
                {**CHOICE, "options": [{"letter": c} for c in "ABCDEFGHIJK"]}, {**CHOICE, "answer": 7},
                {**NUMERIC, "answer": float("nan")}, {**NUMERIC, "tolerance": -1}, {**CHOICE, "prompt": "text"},
                {**CHOICE, "prompt": {"id": "err.class_key"}}, {**NUMERIC, "image": [[float("nan")]]},
                {**NUMERIC, "image": [[0] * 30_000]}, {**NUMERIC, "options": [{"letter": "A"}] * 2}]:
        with pytest.raises(CnnvizError) as info:
            store.ask(code, KEY, bad)
        assert info.value.code == "err.class_question_bad"
    assert store.current(code) is None


def test_a_bad_database_address_is_refused_without_its_password():
    for url in ["mysql://u:secret@host/db", "not a url", "http://u:secret@x", "sqlite://", "sqlite:///:memory:"]:
        with pytest.raises(CnnvizError) as info:
            ClassStore(url)
        assert info.value.code == "err.class_db_url" and "secret" not in info.value.message("en")


# ---------------------------------------------------------------- sixty at once

def _answer_all(store: ClassStore, code: str, qid: int, students: list[str], value_of) -> list[Exception]:
    """Every student answers from their own thread, all released at the same instant."""
    barrier = threading.Barrier(len(students))
    errors: list[Exception] = []

    def one(student: str) -> None:
        barrier.wait()
        try:
            store.answer(code, qid, student, value_of(student))
        except Exception as exc:  # noqa: BLE001 - counted: none is expected
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(s,)) for s in students]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    return errors


def test_sixty_students_answering_at_once_lose_nothing(store):
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, CHOICE)
    students = [f"student-{i}" for i in range(N_STUDENTS)]
    assert _answer_all(store, code, qid, students, lambda s: int(s.split("-")[1]) % 4) == []
    r = store.results(code, qid, KEY)
    assert r["count"] == N_STUDENTS and r["values"] == {0: 15, 1: 15, 2: 15, 3: 15}
    # all of them change their mind at once: still sixty, each holding the new answer
    assert _answer_all(store, code, qid, students, lambda s: 2 if int(s.split("-")[1]) < 40 else 3) == []
    r = store.results(code, qid, KEY)
    assert r["count"] == N_STUDENTS and r["values"] == {2: 40, 3: 20}


def _process_answers(url: str, code: str, qid: int, first: int, n: int, start_at: float, out) -> None:
    """One replica's share of the class: its own ClassStore (its own connections), n threads."""
    store = ClassStore(url)
    time.sleep(max(0.0, start_at - time.time()))
    errors = _answer_all(store, code, qid, [f"p{first + i}" for i in range(n)], lambda s: int(s[1:]) % 4)
    store.dispose()
    out.put([repr(e) for e in errors])


def test_sixty_students_over_six_processes_lose_nothing(store, url):
    """Replicas share the database: six processes of ten students each, all answering in the same second."""
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, CHOICE)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 8  # every process is up by then (spawning imports SQLAlchemy)
    procs = [ctx.Process(target=_process_answers, args=(url, code, qid, 10 * p, 10, start_at, out))
             for p in range(6)]
    for p in procs:
        p.start()
    errors = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(60)
    assert errors == [[]] * 6
    r = store.results(code, qid, KEY)
    assert r["count"] == N_STUDENTS and r["values"] == {0: 15, 1: 15, 2: 15, 3: 15}


def test_no_answer_lands_after_a_close(store):
    """Students keep answering while the instructor closes: every answer that was accepted is counted, every one
    after the close is refused — none is lost, none is late."""
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, NUMERIC)
    accepted: set[str] = set()
    refused: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(31)

    def student(i: int) -> None:
        go.wait()
        for n in range(1000):
            name = f"s{i}-{n}"
            try:
                store.answer(code, qid, name, n)
            except CnnvizError as exc:
                assert exc.code == "err.class_closed"
                with lock:
                    refused.append(name)
                return
            with lock:
                accepted.add(name)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(30)]
    for th in threads:
        th.start()
    go.wait()
    time.sleep(0.3)
    store.close(code, qid, KEY)
    for th in threads:
        th.join(120)
    assert len(refused) == 30 and accepted
    assert store.results(code, qid, KEY)["count"] == len(accepted)


def test_the_instructor_never_waits_for_a_connection_behind_the_answers(store):
    """Every connection the answers may use is taken (a burst of answers at its peak): the instructor's close and
    the results still go through at once, on their own pool. With one pool for both, the close waited for a free
    connection: 5 to 15 s under 30 students answering without pause, the pool not being fair."""
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, NUMERIC)
    store.answer(code, qid, "before", 3)
    taken = [store._answers_engine.connect() for _ in range(sum(ANSWERS_POOL))]
    try:
        done = threading.Event()

        def instructor() -> None:
            store.close(code, qid, KEY)
            done.set()

        th = threading.Thread(target=instructor, daemon=True)
        th.start()
        assert done.wait(20), "the close waited behind the answers' connections"
        assert store.results(code, qid, KEY)["count"] == 1
    finally:
        for conn in taken:
            conn.close()
    with pytest.raises(CnnvizError) as refused:
        store.answer(code, qid, "after", 4)
    assert refused.value.code == "err.class_closed"


# ---------------------------------------------------------------- configuration

def test_the_sqlite_file_is_made_on_first_use_in_the_runs_folder_with_a_write_ahead_log(tmp_path):
    runs = tmp_path / "my runs"
    url = cr.default_url({"CNNVIZ_RUNS": str(runs)})
    assert url == f"sqlite:///{(runs / 'class.sqlite').resolve()}"
    assert cr.default_url({"CNNVIZ_DB": "postgresql+psycopg://u@h/db", "CNNVIZ_RUNS": str(runs)}) \
        == "postgresql+psycopg://u@h/db"
    store = ClassStore(url)
    store.open_class(KEY)
    store.dispose()
    with sqlite3.connect(runs / "class.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"cnnviz_classes", "cnnviz_questions", "cnnviz_answers"} <= tables


def test_the_instructor_key_comes_from_the_environment_or_is_printed_once(monkeypatch, capsys):
    assert cr.instructor_key({"CNNVIZ_INSTRUCTOR_KEY": " chosen "}) == "chosen"
    monkeypatch.setattr(cr, "_server_key", None)
    first = cr.instructor_key({})
    second = cr.instructor_key({})
    printed = capsys.readouterr().err
    assert first == second and len(first) >= 16 and printed.count(first) == 1
    assert cr.same_key(first, first) and not cr.same_key(first[:-1], first) and not cr.same_key(None, first)


def test_the_csv_holds_the_distribution_and_no_formula(store):
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, CHOICE)
    store.answer(code, qid, "a", 2, nickname="=HYPERLINK(\"http://x\")")
    store.answer(code, qid, "b", 0)
    second = store.vote_again(code, qid, KEY)
    store.answer(code, second, "a", 2)
    store.answer(code, second, "b", 2)
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(store.results_csv(code, KEY))))
    assert [(r["round"], r["answer"], r["count"], r["correct"]) for r in rows] == [
        ("1", "0", "1", "0"), ("1", "2", "1", "1"), ("2", "2", "2", "1")]
    assert rows[0]["round_share_correct"] == "0.5000" and rows[2]["round_share_correct"] == "1.0000"
    assert rows[1]["nicknames"].startswith("'=")  # a spreadsheet will not run it
    assert all(json.loads(r["right_answer"]) == 2 for r in rows)


def test_every_error_id_is_in_both_catalogues():
    import re

    ids = set(re.findall(r'"(err\.class_[a-z_]+)"', Path(cr.__file__).read_text()))
    assert len(ids) >= 10
    for lang in ("en", "fr"):
        assert ids <= set(catalogue(lang)), ids - set(catalogue(lang))
