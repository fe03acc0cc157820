"""Live questions in a lecture hall: classes, questions and answers in a database (SQLAlchemy 2).

    store = ClassStore()                         # CNNVIZ_DB, else sqlite:///<runs>/class.sqlite (WAL)
    code = store.open_class(key)                 # "K7M2QX": the join code students type or scan
    qid = store.ask(code, key, {"kind": "choice", "prompt": {"id": "class.q.quick_choice"},
                                "options": [{"letter": "A"}, {"letter": "B"}], "answer": 1})
    store.answer(code, qid, "student-1", 1)      # a second answer from the same student replaces the first
    store.close(code, qid, key); store.reveal(code, qid, key)
    store.results(code, qid, key)                # {"count": 1, "values": {1: 1}, "correct": 1, ...}
    second = store.vote_again(code, qid, key)    # peer instruction: the first round's answers are kept

The database is an SQLite file by default (created on first use, write-ahead log, so that the replicas of one
machine share it) or PostgreSQL (`CNNVIZ_DB=postgresql+psycopg://user:pass@host/db`) when replicas run on several
machines. Every write is one short transaction retried when the database is busy (SQLite's lock, PostgreSQL's
serialization and deadlock errors): sixty students answering in the same second lose nothing
(tests/test_classroom.py, bench/classroom.py).

A question is a plain dict: `kind` (numeric, choice, truefalse), `prompt` (a catalogue id and its parameters, so
that every reader sees it in their language), `options` (choice), `grids`/`image` (what the question is about),
`answer` and `tolerance`. The answer is stored apart from the rest and never read by what students receive
(`current`) until the instructor reveals it.

The instructor key: `CNNVIZ_INSTRUCTOR_KEY`, or a random key printed on the server's console (`instructor_key`).
A class stores its key hashed (scrypt, salted); keys are compared in constant time. Anything a browser sends
(codes, student ids, nicknames, answers) is checked here and refused with a CnnvizError whose id the page words
in the reader's language.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import math
import numbers
import os
import re
import secrets
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    literal,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from cnnviz import CnnvizError

log = logging.getLogger(__name__)

# Join codes: no 0/O, 1/I/L, 2/Z, 5/S, 8/B, 6/G — letters and digits nobody confuses on a projector or a phone.
CODE_ALPHABET = "ACDEFHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6
CODE_RE = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
KINDS = ("numeric", "choice", "truefalse")
STATUSES = ("open", "closed", "revealed")
MAX_OPTIONS = 10
MAX_QUESTION_BYTES = 64_000  # a question's JSON (a 32×32×3 image fits)
MAX_NUMBER = 1e15
MAX_TEXT = 40  # characters of an answer typed as text, and of a nickname
STUDENT_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
PROMPT_ID_RE = re.compile(r"class\.q\.[a-z0-9_]+")
# (connections kept, more under load) of ClassStore's two pools: per process, 8 + 17 PostgreSQL connections, the
# 25 that one shared pool had
OTHER_POOL = (3, 5)
ANSWERS_POOL = (4, 13)
RETRIES = 8
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~30 ms per check; a good check is remembered for the process

metadata = MetaData()
classes = Table(
    "cnnviz_classes", metadata,
    Column("code", String(8), primary_key=True),
    Column("key_hash", String(200), nullable=False),
    Column("created", Float, nullable=False),
    Column("version", Integer, nullable=False, default=0),  # +1 at every change students must see
    Column("current", Integer, nullable=True),  # the question students see now
)
questions = Table(
    "cnnviz_questions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("class_code", String(8), ForeignKey("cnnviz_classes.code"), nullable=False, index=True),
    Column("number", Integer, nullable=False),  # 1, 2, 3… in the class (a vote again keeps its number)
    Column("round", Integer, nullable=False, default=1),  # 2 for a vote again
    Column("parent", Integer, nullable=True),  # the first round of a vote again
    Column("kind", String(16), nullable=False),
    Column("n_options", Integer, nullable=False, default=0),
    Column("public", Text, nullable=False),  # JSON: what students receive
    Column("secret", Text, nullable=False),  # JSON: the answer and its tolerance (instructor, or after reveal)
    Column("status", String(10), nullable=False, default="open"),
    Column("created", Float, nullable=False),
)
answers = Table(
    "cnnviz_answers", metadata,
    Column("question_id", Integer, ForeignKey("cnnviz_questions.id"), primary_key=True),
    Column("student", String(64), primary_key=True),
    Column("value", String(64), nullable=False),  # canonical JSON: 3, 0.5, 2, true
    Column("nickname", String(MAX_TEXT * 4), nullable=True),
    Column("updated", Float, nullable=False),
)


# ---------------------------------------------------------------- the instructor key and the database's address

_server_key: str | None = None
_server_key_lock = threading.Lock()


def instructor_key(environ=None, out=None) -> str:
    """The server's instructor key: CNNVIZ_INSTRUCTOR_KEY, or else a random key made once per process and printed
    on the server's console (never in a page, a link or a log file meant for others)."""
    global _server_key
    env = os.environ if environ is None else environ
    configured = (env.get("CNNVIZ_INSTRUCTOR_KEY") or "").strip()
    if configured:
        return configured
    with _server_key_lock:
        if _server_key is None:
            _server_key = secrets.token_urlsafe(12)  # 96 bits: out of reach of guessing
            print(f"cnnviz: instructor key for this server: {_server_key}  (set CNNVIZ_INSTRUCTOR_KEY to choose "
                  "one; replicas need the same key)", file=out or sys.stderr, flush=True)
        return _server_key


def same_key(given, expected: str) -> bool:
    """`given` is the server's instructor key (constant time, whatever its length)."""
    if not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(hashlib.sha256(given.encode("utf-8", "replace")).digest(),
                               hashlib.sha256(expected.encode("utf-8")).digest())


def default_url(environ=None) -> str:
    """CNNVIZ_DB, else the SQLite file class.sqlite in the runs folder (CNNVIZ_RUNS, cnnviz.config)."""
    env = os.environ if environ is None else environ
    configured = (env.get("CNNVIZ_DB") or "").strip()
    if configured:
        return configured
    from cnnviz.config import load_settings

    runs = load_settings({"CNNVIZ_RUNS": env.get("CNNVIZ_RUNS", "")}, log_warnings=False).runs_dir
    database = (Path(runs).resolve() / "class").with_suffix(".sqlite")  # (a literal "class.sqlite" reads as a message id)
    return f"sqlite:///{database}"


def normalize_code(code) -> str:
    """A join code as typed ("k7m-2qx ", "K7M2QX") -> "K7M2QX"; CnnvizError when it cannot be one."""
    if not isinstance(code, str) or len(code) > 20:
        raise CnnvizError("err.class_code")
    clean = re.sub(r"[\s\-–·.]", "", code).upper()
    if not CODE_RE.fullmatch(clean):
        raise CnnvizError("err.class_code")
    return clean


# ---------------------------------------------------------------- values

def _number(value) -> float | int:
    """A finite number from an int, a float, a numpy number, or a plain decimal string ("3", "-0.5", "1e3")."""
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_TEXT or not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?", text, re.ASCII):
            raise CnnvizError("err.class_value_number")
        value = float(text)
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CnnvizError("err.class_value_number")
    v = float(value)
    if not math.isfinite(v) or abs(v) > MAX_NUMBER:
        raise CnnvizError("err.class_value_number")
    return int(v) if v.is_integer() else v


def canonical(kind: str, n_options: int, value) -> str:
    """An answer checked against its question -> the text stored (JSON of an int, a float or a bool)."""
    if kind == "numeric":
        return json.dumps(_number(value))
    if kind == "choice":
        if isinstance(value, str) and value.strip().isdigit() and len(value) < 4:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) < n_options:
            raise CnnvizError("err.class_value_choice", n=n_options)
        return json.dumps(int(value))
    if kind == "truefalse":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise CnnvizError("err.class_value_truefalse")
        return json.dumps(value)
    raise CnnvizError("err.class_question_bad", reason=str(kind)[:20])


def is_correct(kind: str, value, answer, tolerance: float = 0.0) -> bool | None:
    """Whether an answer is right (None when the question has no right answer)."""
    if answer is None:
        return None
    if kind == "numeric":
        return abs(float(value) - float(answer)) <= float(tolerance) + 1e-9 * max(1.0, abs(float(answer)))
    return value == answer


def _student(student) -> str:
    if not isinstance(student, str) or not STUDENT_RE.fullmatch(student):
        raise CnnvizError("err.class_student")
    return student


def clean_nickname(nickname) -> str | None:
    """An optional nickname: None or text of at most 40 characters without control characters (shown as plain
    text, never as Markdown or HTML)."""
    if nickname is None:
        return None
    if not isinstance(nickname, str):
        raise CnnvizError("err.class_nickname", n=MAX_TEXT)
    text = " ".join(nickname.split())
    if len(text) > MAX_TEXT or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029\u202e\u202d"
                                   for c in text):
        raise CnnvizError("err.class_nickname", n=MAX_TEXT)
    return text or None


def _params_ok(params) -> bool:
    return isinstance(params, dict) and len(params) <= 20 and all(
        isinstance(k, str) and re.fullmatch(r"[a-z_][a-z0-9_]*", k)
        and (v is None or isinstance(v, (bool, int, float, str)) and (not isinstance(v, str) or len(v) <= 200)
             and (not isinstance(v, float) or math.isfinite(v)))
        for k, v in params.items())


def check_question(question) -> tuple[dict, dict]:
    """A question dict -> (public part, secret part), or CnnvizError("err.class_question_bad")."""
    def bad(reason: str):
        return CnnvizError("err.class_question_bad", reason=reason)

    if not isinstance(question, dict):
        raise bad("not a dict")
    kind = question.get("kind")
    if kind not in KINDS:
        raise bad("kind")
    prompt = question.get("prompt")
    if not (isinstance(prompt, dict) and isinstance(prompt.get("id"), str) and PROMPT_ID_RE.fullmatch(prompt["id"])
            and _params_ok(prompt.get("params", {}))):
        raise bad("prompt")
    options = question.get("options", [])
    if kind == "choice":
        if not isinstance(options, list) or not 2 <= len(options) <= MAX_OPTIONS or not all(
                isinstance(o, dict) for o in options):
            raise bad("options")
    elif options:
        raise bad("options")
    answer = question.get("answer")
    tolerance = question.get("tolerance", 0.0)
    if answer is not None:
        try:
            answer = json.loads(canonical(kind, len(options), answer))
        except CnnvizError:
            raise bad("answer") from None
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not 0 <= tolerance < MAX_NUMBER:
        raise bad("tolerance")
    public = {k: v for k, v in question.items() if k not in ("answer", "tolerance")}
    try:
        text = json.dumps(public, allow_nan=False)
    except (TypeError, ValueError):
        raise bad("not plain JSON") from None
    if len(text) > MAX_QUESTION_BYTES:
        raise bad("too large")
    return json.loads(text), {"answer": answer, "tolerance": float(tolerance)}


# ---------------------------------------------------------------- keys

def hash_key(key: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode("utf-8"), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def key_matches(key, stored: str) -> bool:
    """`key` hashes to `stored` (compared in constant time)."""
    if not isinstance(key, str) or not key or len(key) > 1000:
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        derived = hashlib.scrypt(key.encode("utf-8", "replace"), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                 p=int(p), dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived.hex(), digest)


# ---------------------------------------------------------------- the store

def _retryable(exc: DBAPIError) -> bool:
    """SQLite busy/locked, PostgreSQL serialization failure or deadlock: try the transaction again."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in ("40001", "40P01", "55P03"):
        return True
    text = str(orig or exc).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


class ClassStore:
    """Classes, questions and answers in one database (see the module's docstring). Thread-safe: one per process
    is enough (the app keeps one in st.cache_resource); several processes may share one database."""

    def __init__(self, url: str | None = None, instructor_key: str | None = None, echo: bool = False):
        """`url`: an SQLAlchemy URL (sqlite:///path or postgresql+psycopg://…), default `default_url()`.
        `instructor_key`: when given, `open_class` accepts only this key (the app passes the server's)."""
        raw = url or default_url()
        try:
            self.url = make_url(raw)
        except (ArgumentError, ValueError):
            raise CnnvizError("err.class_db_url", url=str(raw)[:80].split("@")[-1]) from None
        backend = self.url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise CnnvizError("err.class_db_url", url=self.url.render_as_string(hide_password=True)[:120])
        self.dialect = backend
        self._server_key = instructor_key
        self._pepper = secrets.token_bytes(16)
        self._verified: dict[str, bytes] = {}  # class code -> HMAC of the key that passed scrypt (this process)
        self._kinds: dict[int, tuple[str, str, int]] = {}  # question id -> (class code, kind, options): immutable
        if backend == "sqlite":
            database = self.url.database or ""
            if database in ("", ":memory:"):  # one database per connection: the pages would not see the answers
                raise CnnvizError("err.class_db_url", url=self.url.render_as_string(hide_password=True)[:120])
            if not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Two pools: the students' answers, and everything else (the instructor's clicks, the pages' polling).
        # A pool is not fair: under a burst of answers, the threads that give a connection back take it again at
        # once, and a close waited 5 to 15 s for a connection with 30 students answering without pause. With its
        # own pool the instructor never queues behind the room.
        self.engine = self._new_engine(echo, *OTHER_POOL)
        self._answers_engine = self._new_engine(echo, *ANSWERS_POOL)
        self._create_tables()

    def _new_engine(self, echo: bool, pool_size: int, max_overflow: int):
        """An engine on this store's database whose pool keeps `pool_size` connections, opens up to `max_overflow`
        more under load, and makes a caller wait at most 60 s for one."""
        if self.dialect == "sqlite":
            engine = create_engine(self.url, echo=echo, connect_args={"timeout": 30},
                                   pool_size=pool_size, max_overflow=max_overflow, pool_timeout=60)
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(self.url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=60,
                             pool_pre_ping=True)

    def __repr__(self) -> str:
        return f"ClassStore({self.url.render_as_string(hide_password=True)!r})"

    def dispose(self) -> None:
        self._answers_engine.dispose()
        self.engine.dispose()

    # ------------------------------------------------------------ plumbing

    def _create_tables(self) -> None:
        for attempt in range(RETRIES):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                return
            except (OperationalError, IntegrityError, DBAPIError) as exc:  # another process created them meanwhile
                if attempt == RETRIES - 1:
                    raise self._unreachable(exc) from None
                time.sleep(0.05 * (attempt + 1))

    def _unreachable(self, exc: Exception) -> CnnvizError:
        log.warning("class database %s: %s", self.url.render_as_string(hide_password=True), exc)
        return CnnvizError("err.class_db", url=self.url.render_as_string(hide_password=True)[:120])

    @contextmanager
    def _read(self):
        try:
            with self.engine.connect() as conn:
                yield conn
        except CnnvizError:
            raise
        except DBAPIError as exc:
            raise self._unreachable(exc) from None

    def _write(self, work, engine=None):
        """work(conn) in one transaction (SQLite: BEGIN IMMEDIATE), retried when the database is busy; on `engine`'s
        pool (default: the instructor's and the pages')."""
        for attempt in range(RETRIES):
            try:
                with (engine or self.engine).connect() as conn:
                    conn.execution_options(cnnviz_write=True)
                    with conn.begin():
                        return work(conn)
            except CnnvizError:
                raise
            except DBAPIError as exc:
                if not _retryable(exc) or attempt == RETRIES - 1:
                    raise self._unreachable(exc) from None
                time.sleep(min(1.0, 0.02 * 2**attempt) * (0.5 + secrets.randbelow(100) / 100))

    def _class_row(self, conn, code: str):
        row = conn.execute(select(classes).where(classes.c.code == code)).first()
        if row is None:
            raise CnnvizError("err.class_unknown", join=code)
        return row

    def _check_key(self, conn, code: str, key) -> None:
        """The class exists and `key` is its key (constant time; a key that passed once is remembered, HMAC'd)."""
        row = self._class_row(conn, code)
        if not isinstance(key, str) or not key or len(key) > 1000:
            raise CnnvizError("err.class_key")
        mac = hmac.new(self._pepper, key.encode("utf-8", "replace"), hashlib.sha256).digest()
        known = self._verified.get(code)
        if known is not None and hmac.compare_digest(known, mac):
            return
        if not key_matches(key, row.key_hash):
            raise CnnvizError("err.class_key")
        self._verified[code] = mac

    def _question(self, conn, code: str, qid) -> object:
        if isinstance(qid, bool) or not isinstance(qid, numbers.Integral) or not 0 < int(qid) < 2**31:
            raise CnnvizError("err.class_question", id=str(qid)[:20])
        row = conn.execute(select(questions).where(questions.c.id == int(qid), questions.c.class_code == code)).first()
        if row is None:
            self._class_row(conn, code)  # an unknown class says so
            raise CnnvizError("err.class_question", id=int(qid))
        return row

    def _bump(self, conn, code: str, current=None, set_current: bool = False) -> None:
        values = {"version": classes.c.version + 1}
        if set_current:
            values["current"] = current
        conn.execute(update(classes).where(classes.c.code == code).values(**values))

    # ------------------------------------------------------------ instructor

    def open_class(self, key) -> str:
        """A new class protected by `key` -> its join code (six letters and digits, e.g. "K7M2QX")."""
        if not isinstance(key, str) or not key.strip() or len(key) > 1000:
            raise CnnvizError("err.class_key")
        if self._server_key is not None and not same_key(key, self._server_key):
            raise CnnvizError("err.class_key")
        key_hash = hash_key(key)
        for _ in range(20):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))

            def insert(conn, code=code):
                if conn.execute(select(classes.c.code).where(classes.c.code == code)).first() is not None:
                    return None
                conn.execute(classes.insert().values(code=code, key_hash=key_hash, created=time.time(), version=0))
                return code

            try:
                made = self._write(insert)
            except CnnvizError:
                raise
            if made:
                self._verified[made] = hmac.new(self._pepper, key.encode("utf-8"), hashlib.sha256).digest()
                return made
        raise CnnvizError("err.class_db", url=self.url.render_as_string(hide_password=True)[:120])

    def check_key(self, code, key) -> str:
        """The instructor's key of class `code` (to take a class back after a reload) -> the normalized code."""
        code = normalize_code(code)
        with self._read() as conn:
            self._check_key(conn, code, key)
        return code

    def ask(self, code, key, question: dict) -> int:
        """Put a question to the class (it becomes the one students see, open) -> its id."""
        code = normalize_code(code)
        public, secret = check_question(question)
        n_options = len(public.get("options", []))

        def work(conn):
            self._check_key(conn, code, key)
            number = conn.execute(select(func.coalesce(func.max(questions.c.number), 0))
                                  .where(questions.c.class_code == code)).scalar_one() + 1
            qid = conn.execute(questions.insert().values(
                class_code=code, number=number, round=1, parent=None, kind=public["kind"], n_options=n_options,
                public=json.dumps(public), secret=json.dumps(secret), status="open", created=time.time())
            ).inserted_primary_key[0]
            self._bump(conn, code, qid, set_current=True)
            return int(qid)

        return self._write(work)

    def _answers_wait(self, conn) -> None:
        """PostgreSQL: answers wait (milliseconds) while this transaction closes a question, then see it closed.

        An answer holds its question's row FOR SHARE, so that none lands after a close; but share locks that keep
        arriving starve the close's row update (PostgreSQL grants a share lock beside the others without looking at
        who waits): with 30 students answering without pause and its own pool, a close still took 0.1 to 0.6 s
        (33 ms median with this lock, bench/class_close.py). A table lock is granted in
        the order asked, and the answers' own lock on the table (ROW SHARE) queues behind this one. Plain reads
        (the polling pages) go on. SQLite's writers already take turns (BEGIN IMMEDIATE)."""
        if self.dialect == "postgresql":
            table = conn.dialect.identifier_preparer.format_table(questions)
            conn.execute(sql_text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))

    def _set_status(self, code, qid, key, status: str) -> None:
        code = normalize_code(code)

        def work(conn):
            self._answers_wait(conn)
            self._check_key(conn, code, key)
            row = self._question(conn, code, qid)
            if STATUSES.index(row.status) < STATUSES.index(status):  # open -> closed -> revealed, never back
                conn.execute(update(questions).where(questions.c.id == row.id).values(status=status))
                self._bump(conn, code)

        self._write(work)

    def close(self, code, question_id, key) -> None:
        """Close the vote: answers sent from now on are refused; the results are final."""
        self._set_status(code, question_id, key, "closed")

    def reveal(self, code, question_id, key) -> None:
        """Close the vote if it is open, and show students the right answer."""
        self._set_status(code, question_id, key, "revealed")

    def vote_again(self, code, question_id, key) -> int:
        """Peer instruction: the same question again, open, as a second round; the first round's answers stay."""
        code = normalize_code(code)

        def work(conn):
            self._answers_wait(conn)
            self._check_key(conn, code, key)
            row = self._question(conn, code, question_id)
            first = row.parent or row.id
            if row.status == "open":
                conn.execute(update(questions).where(questions.c.id == row.id).values(status="closed"))
            rounds = conn.execute(select(func.max(questions.c.round)).where(
                (questions.c.id == first) | (questions.c.parent == first))).scalar_one()
            qid = conn.execute(questions.insert().values(
                class_code=code, number=row.number, round=rounds + 1, parent=first, kind=row.kind,
                n_options=row.n_options, public=row.public, secret=row.secret, status="open", created=time.time())
            ).inserted_primary_key[0]
            self._bump(conn, code, qid, set_current=True)
            return int(qid)

        return self._write(work)

    def stop_asking(self, code, key) -> None:
        """No question on the students' screens (their page says to wait)."""
        code = normalize_code(code)

        def work(conn):
            self._check_key(conn, code, key)
            self._bump(conn, code, None, set_current=True)

        self._write(work)

    def results(self, code, question_id, key) -> dict:
        """The answers to one question (instructor): count, values (value -> count), the right answer, how many had
        it (`correct`, `share`), the question's status and round, and its public part (prompt, options…)."""
        code = normalize_code(code)
        with self._read() as conn:
            self._check_key(conn, code, key)
            row = self._question(conn, code, question_id)
            counts = conn.execute(select(answers.c.value, func.count()).where(answers.c.question_id == row.id)
                                  .group_by(answers.c.value)).all()
        secret = json.loads(row.secret)
        values = {json.loads(v): int(n) for v, n in counts}
        values = dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
        count = sum(values.values())
        right = None if secret["answer"] is None else sum(
            n for v, n in values.items() if is_correct(row.kind, v, secret["answer"], secret["tolerance"]))
        return {"id": row.id, "number": row.number, "round": row.round, "parent": row.parent, "kind": row.kind,
                "status": row.status, "question": json.loads(row.public), "count": count, "values": values,
                "answer": secret["answer"], "tolerance": secret["tolerance"], "correct": right,
                "share": (right / count if count else None) if right is not None else None}

    def rounds(self, code, question_id, key) -> list[dict]:
        """Every round of the question `question_id` belongs to (first first), each as `results` gives it."""
        code = normalize_code(code)
        with self._read() as conn:
            self._check_key(conn, code, key)
            row = self._question(conn, code, question_id)
            first = row.parent or row.id
            ids = conn.execute(select(questions.c.id).where((questions.c.id == first) | (questions.c.parent == first))
                               .order_by(questions.c.round)).scalars().all()
        return [self.results(code, qid, key) for qid in ids]

    def question_ids(self, code, key) -> list[int]:
        """Every question of the class, in the order asked (vote-again rounds included)."""
        code = normalize_code(code)
        with self._read() as conn:
            self._check_key(conn, code, key)
            return list(conn.execute(select(questions.c.id).where(questions.c.class_code == code)
                                     .order_by(questions.c.id)).scalars())

    def nicknames(self, code, question_id, key) -> dict:
        """value -> the nicknames of the students who gave it (only those who chose a nickname)."""
        code = normalize_code(code)
        with self._read() as conn:
            self._check_key(conn, code, key)
            row = self._question(conn, code, question_id)
            rows = conn.execute(select(answers.c.value, answers.c.nickname).where(
                answers.c.question_id == row.id, answers.c.nickname.is_not(None)).order_by(answers.c.nickname)).all()
        out: dict = {}
        for value, nick in rows:
            out.setdefault(json.loads(value), []).append(nick)
        return out

    def results_csv(self, code, key, describe=None) -> str:
        """Every question of the class as CSV: one row per question round and answer given — the question, its
        round, the answer, how many gave it, whether it is right, the round's count and share correct, and the
        nicknames (only those students chose). `describe(public) -> text` words a question (default: its id)."""
        code = normalize_code(code)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["question", "round", "kind", "prompt", "answer", "count", "correct", "round_answers",
                         "round_share_correct", "right_answer", "nicknames"])
        for qid in self.question_ids(code, key):
            r = self.results(code, qid, key)
            prompt = describe(r["question"]) if describe else r["question"]["prompt"]["id"]
            names = self.nicknames(code, qid, key)
            share = "" if r["share"] is None else f"{r['share']:.4f}"
            right = "" if r["answer"] is None else json.dumps(r["answer"])
            rows = r["values"].items() or [(None, 0)]
            for value, n in rows:
                ok = is_correct(r["kind"], value, r["answer"], r["tolerance"]) if value is not None else None
                writer.writerow([r["number"], r["round"], r["kind"], _cell(prompt),
                                 "" if value is None else json.dumps(value), n, "" if ok is None else int(ok),
                                 r["count"], share, right, _cell(", ".join(names.get(value, [])))])
        return out.getvalue()

    # ------------------------------------------------------------ students

    def version(self, code) -> int:
        """A number that changes whenever students must redraw (a question asked, closed, revealed): one
        primary-key read, what a student's page polls."""
        code = normalize_code(code)
        with self._read() as conn:
            v = conn.execute(select(classes.c.version).where(classes.c.code == code)).scalar()
        if v is None:
            raise CnnvizError("err.class_unknown", join=code)
        return int(v)

    def current(self, code) -> dict | None:
        """What students see now: None (no question), or the question's public part with its id, number, round,
        status and version — and its answer only once revealed."""
        code = normalize_code(code)
        with self._read() as conn:
            cls = self._class_row(conn, code)
            if cls.current is None:
                return None
            cols = [questions.c.id, questions.c.number, questions.c.round, questions.c.kind, questions.c.public,
                    questions.c.status]
            row = conn.execute(select(*cols).where(questions.c.id == cls.current)).first()
            secret = None
            if row is not None and row.status == "revealed":
                secret = conn.execute(select(questions.c.secret).where(questions.c.id == row.id)).scalar_one()
        if row is None:
            return None
        out = {**json.loads(row.public), "id": row.id, "number": row.number, "round": row.round,
               "status": row.status, "version": int(cls.version)}
        if secret is not None:
            s = json.loads(secret)
            out["answer"], out["tolerance"] = s["answer"], s["tolerance"]
        return out

    def answer(self, code, question_id, student_id, value, nickname=None) -> None:
        """Record a student's answer (replacing their earlier one) while the vote is open."""
        code = normalize_code(code)
        student = _student(student_id)
        nickname = clean_nickname(nickname)
        if isinstance(question_id, bool) or not isinstance(question_id, numbers.Integral) \
                or not 0 < int(question_id) < 2**31:
            raise CnnvizError("err.class_question", id=str(question_id)[:20])
        qid = int(question_id)
        known = self._kinds.get(qid)
        if known is None or known[0] != code:
            with self._read() as conn:
                row = self._question(conn, code, qid)
            known = self._kinds[qid] = (code, row.kind, row.n_options)
        text = canonical(known[1], known[2], value)
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        # One statement: insert (or replace) the answer only if the question is open. PostgreSQL: FOR SHARE waits
        # for a close being committed and then sees it, so no answer lands after a close.
        source = select(literal(qid, Integer), literal(student, String), literal(text, String),
                        literal(nickname, String), literal(time.time(), Float)) \
            .select_from(questions).where(questions.c.id == qid, questions.c.class_code == code,
                                          questions.c.status == "open")
        if self.dialect == "postgresql":
            source = source.with_for_update(read=True)
        stmt = dialect_insert(answers).from_select(
            ["question_id", "student", "value", "nickname", "updated"], source)
        stmt = stmt.on_conflict_do_update(index_elements=[answers.c.question_id, answers.c.student],
                                          set_={"value": stmt.excluded.value, "nickname": stmt.excluded.nickname,
                                                "updated": stmt.excluded.updated}) \
            .returning(answers.c.student)  # rowcount is not reliable for INSERT … SELECT on every driver

        def work(conn):
            if conn.execute(stmt).first() is not None:
                return True
            row = self._question(conn, code, qid)  # why not: closed (or unknown)
            raise CnnvizError("err.class_closed" if row.status != "open" else "err.class_question", id=qid)

        self._write(work, self._answers_engine)

    def my_answer(self, code, question_id, student_id):
        """The answer this student holds for the question, or None."""
        code = normalize_code(code)
        student = _student(student_id)
        with self._read() as conn:
            value = conn.execute(select(answers.c.value).join(questions, questions.c.id == answers.c.question_id)
                                 .where(answers.c.question_id == int(question_id), answers.c.student == student,
                                        questions.c.class_code == code)).scalar()
        return None if value is None else json.loads(value)


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (nicknames come from browsers)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _sqlite_connect(dbapi_connection, _record) -> None:
    """Each SQLite connection: write-ahead log (readers never wait for the writer; replicas share the file), a busy
    wait of 30 s, foreign keys; the driver's own transaction handling off (we say BEGIN ourselves)."""
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a power cut may lose the last commits, never corrupt
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    """Writes take SQLite's write lock at BEGIN (IMMEDIATE), so a transaction never fails half-way on a lock it
    could not upgrade; reads run without a transaction of their own (WAL: a consistent snapshot per statement)."""
    if conn.get_execution_options().get("cnnviz_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
