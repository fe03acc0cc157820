"""Issue 15.9: one session could keep any number of uploaded files in Streamlit's in-memory upload store.

`ui.uploads.limit_uploads()` caps it at the newest MAX_FILES_PER_SESSION files per session. Checked on
Streamlit's own MemoryUploadedFileManager, then through Streamlit's own upload route (the PUT a browser or a
script sends), so a Streamlit that stopped looking `add_file` up on the instance would fail here.
(bench/uploads.py measures the same against a real server: 60 × 5 MB -> 300 MB without, 10 MB with.)"""

from __future__ import annotations

import asyncio
import uuid

from streamlit import config
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from ui.uploads import MAX_FILES_PER_SESSION, limit_uploads, session_upload_bytes

SIZE = 1000


def rec(file_id: str) -> UploadedFileRec:
    return UploadedFileRec(file_id=file_id, name=f"{file_id}.png", type="image/png", data=b"x" * SIZE)


def stored_bytes(mgr: MemoryUploadedFileManager) -> int:
    stats = mgr.get_stats().get("cache_memory_bytes", [])
    return sum(s.byte_length for s in stats)


def test_a_session_keeps_only_its_newest_files():
    mgr = MemoryUploadedFileManager("/_stcore/upload_file")
    assert limit_uploads(mgr)
    for i in range(60):
        mgr.add_file("s1", rec(f"f{i}"))
    mgr.add_file("s2", rec("other"))
    assert list(mgr.file_storage["s1"]) == [f"f{i}" for i in range(60 - MAX_FILES_PER_SESSION, 60)]
    assert list(mgr.file_storage["s2"]) == ["other"]  # another session is not touched
    assert session_upload_bytes("s1", mgr) == MAX_FILES_PER_SESSION * SIZE
    assert stored_bytes(mgr) == (MAX_FILES_PER_SESSION + 1) * SIZE  # the manager's own count stays right
    # the file on screen (the newest) is still readable, through the same call the widget makes
    assert [r.file_id for r in mgr.get_files("s1", ["f59"])] == ["f59"]
    mgr.remove_session_files("s1")
    mgr.remove_session_files("s2")
    assert stored_bytes(mgr) == 0


def test_installing_twice_wraps_once_and_updates_the_limit():
    mgr = MemoryUploadedFileManager("/_stcore/upload_file")
    assert limit_uploads(mgr, max_files=5)
    wrapped = mgr.add_file
    assert limit_uploads(mgr, max_files=1)  # every script run calls it
    assert mgr.add_file is wrapped
    for i in range(4):
        mgr.add_file("s", rec(f"f{i}"))
    assert list(mgr.file_storage["s"]) == ["f3"]


def test_another_manager_is_left_alone():
    class Other:  # e.g. a future Streamlit store without per-session file_storage
        def add_file(self, session_id, file):
            pass

    other = Other()
    assert not limit_uploads(other)
    assert "add_file" not in vars(other)


def _put(app, session_id: str, file_id: str, data: bytes) -> int:
    """One multipart PUT through the ASGI app (what the browser's uploader sends) -> the status code."""
    boundary = "cnnvizboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
             "path": f"/_stcore/upload_file/{session_id}/{file_id}", "raw_path": b"", "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 8501), "client": ("127.0.0.1", 1),
             "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
                         (b"content-length", str(len(body)).encode()), (b"host", b"127.0.0.1")]}
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_uploads_through_streamlits_route_are_capped():
    from starlette.applications import Starlette
    from streamlit.web.server.starlette.starlette_routes import create_upload_routes

    class Runtime:  # the route only asks whether the session is open
        def is_active_session(self, session_id):
            return session_id == "open"

    mgr = MemoryUploadedFileManager("/_stcore/upload_file")
    app = Starlette(routes=create_upload_routes(Runtime(), mgr, None))
    xsrf = config.get_option("server.enableXsrfProtection")
    config.set_option("server.enableXsrfProtection", False)  # the route's XSRF check is not what is tested
    try:
        assert _put(app, "open", str(uuid.uuid4()), b"y" * SIZE) == 204
        assert len(mgr.file_storage["open"]) == 1
        limit_uploads(mgr)
        ids = [str(uuid.uuid4()) for _ in range(10)]
        assert [_put(app, "open", i, b"y" * SIZE) for i in ids] == [204] * 10
    finally:
        config.set_option("server.enableXsrfProtection", xsrf)
    assert list(mgr.file_storage["open"]) == ids[-MAX_FILES_PER_SESSION:]
    assert stored_bytes(mgr) == MAX_FILES_PER_SESSION * SIZE
