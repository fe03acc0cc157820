"""AppTest: the home page, and every screen without the dataset or with a broken checkpoint."""


import streamlit as st

from tests.apptest import app, text


def test_home():
    at = app()
    assert "three ingredients" in text(at).lower() or any("ingredients" in s.value for s in at.header)
    assert len(at.get("page_link")) >= 5


def test_a_broken_checkpoint_shows_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    at = app("feature_maps")
    assert any("Prediction" in m.value for m in at.markdown)  # the shipped network first
    assert "Server's run: broken" in at.selectbox(key="fm_network").options  # saved without an owner
    at.selectbox(key="fm_network").set_value("broken.pt").run()
    assert not at.exception
    assert any("could not be loaded" in e.value for e in at.error)
    assert any("broken.pt is truncated" in e.value.replace("\\", "") for e in at.error)  # shown as plain text
    at.switch_page("pages/convolution.py").run()  # the rest of the app keeps working
    assert not at.exception and not at.error


def test_every_screen_works_without_the_dataset(tmp_path, monkeypatch, fresh_datasets):
    """Offline and without Debian's package: the shipped sample images stand in; training says what to install."""
    from cnnviz import data

    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    st.cache_resource.clear()
    try:
        at = app()
        for page in ("convolution", "multichannel", "pooling", "feature_maps", "translation", "architecture"):
            at.switch_page(f"pages/{page}.py").run()
            assert not at.exception, (page, [e.value for e in at.exception])
            assert not at.error, (page, [e.value for e in at.error])
        at.switch_page("pages/feature_maps.py").run()
        assert any("shipped sample" in c.value for c in at.caption)
        assert at.number_input(key="fm_idx").max == 19  # 2 images per class
        at.switch_page("pages/training.py").run()
        assert not at.exception
        assert any("apt-get install dataset-fashion-mnist" in e.value.replace("\\", "") for e in at.error)
    finally:
        st.cache_resource.clear()


def test_files_that_cannot_be_offered_are_skipped_with_a_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    (tmp_path / "gone.pt").symlink_to(tmp_path / "nowhere.pt")  # a dangling link
    (tmp_path / "passwd.pt").symlink_to("/etc/passwd")  # a link out of runs/
    for page, key in (("feature_maps", "fm_network"), ("translation", "shift_network")):
        at = app(page)
        assert not at.exception and not at.error
        assert not any("gone" in o or "passwd" in o for o in at.selectbox(key=key).options)
        assert any("are not offered" in c.value and "gone" in c.value for c in at.sidebar.caption)


def test_bad_environment_values_are_said_once_in_the_sidebar(monkeypatch):
    """CNNVIZ_MAX_JOBS=two: the server starts with the default and says so, in the reader's language."""
    monkeypatch.setenv("CNNVIZ_MAX_JOBS", "two")
    st.cache_resource.clear()
    try:
        at = app(None, lang="fr")
        warnings = [w.value for w in at.sidebar.warning]
        assert any("CNNVIZ_MAX_JOBS" in w for w in warnings), warnings
        assert not any("expected" in w for w in warnings)  # French, not English
    finally:
        monkeypatch.delenv("CNNVIZ_MAX_JOBS")
        st.cache_resource.clear()
