"""A cap on what one browser session can keep in Streamlit's upload store.

Streamlit 1.67 keeps every uploaded file in memory (`MemoryUploadedFileManager`), per session, until that
session ends, and accepts any number of them: `server.maxUploadSize` caps one file, nothing caps a session.
Its upload endpoint (`PUT /_stcore/upload_file/<session>/<file id>`) takes any fresh file id of an open
session, so a script holding one websocket can store ~100 MB/s (60 files of 5 MB in ~3 s on the dev machine),
and a browser piles files up too: a single-file uploader deletes its previous file when the next one is
dropped, but an uploader that is unmounted (the source radio set to "test" and back, another page) leaves
its file behind, one more per round trip. All of it is freed only when the session is shut down: after
`server.disconnectedSessionTTL` (120 s) *and* the next write to Streamlit's session storage (another tab
disconnecting) reaps it.

`limit_uploads()` makes the runtime's upload manager keep, per session, only the newest `max_files` files:
the file an uploader shows is the last one it sent, and this app has one uploader per page, so 2 (that one
+ one in flight) never drops a file on screen. It wraps the manager instance's `add_file`, once per process
(idempotent, cheap: call it on every script run). Streamlit internals, read defensively: with another upload
manager (no `file_storage`), it does nothing.
"""

from __future__ import annotations

import logging

MAX_FILES_PER_SESSION = 2
_MARK = "_cnnviz_upload_cap"

_LOG = logging.getLogger(__name__)


def limit_uploads(manager=None, max_files: int = MAX_FILES_PER_SESSION) -> bool:
    """Cap the upload manager (default: the running Streamlit runtime's) at `max_files` files per session,
    dropping the oldest on each upload -> whether the cap is in place. Safe to call on every script run."""
    if manager is None:
        from streamlit import runtime

        if not runtime.exists():
            return False
        manager = runtime.get_instance().uploaded_file_mgr
    max_files = max(1, int(max_files))
    if getattr(manager, _MARK, None) is not None:
        setattr(manager, _MARK, max_files)  # already wrapped: only the limit can change
        return True
    storage = getattr(manager, "file_storage", None)
    if not isinstance(storage, dict) or not callable(getattr(manager, "remove_file", None)):
        _LOG.warning("upload cap not installed: %s has no per-session file_storage", type(manager).__name__)
        return False
    add_file = manager.add_file

    def add_file_capped(session_id: str, file) -> None:
        add_file(session_id, file)
        keep = getattr(manager, _MARK)
        # Insertion order = upload order (a dict); list() of a dict is atomic under the GIL.
        ids = list(manager.file_storage.get(session_id, {}))
        for file_id in ids[:-keep] if len(ids) > keep else ():
            if file_id != file.file_id:
                manager.remove_file(session_id, file_id)  # keeps the manager's byte / file counts right

    manager.add_file = add_file_capped
    setattr(manager, _MARK, max_files)
    return True


def session_upload_bytes(session_id: str, manager=None) -> int:
    """Bytes the upload manager holds for one session (0 if unknown): for tests and diagnostics."""
    if manager is None:
        from streamlit import runtime

        if not runtime.exists():
            return 0
        manager = runtime.get_instance().uploaded_file_mgr
    files = getattr(manager, "file_storage", {}).get(session_id, {})
    return sum(len(f.data) for f in list(files.values()))
