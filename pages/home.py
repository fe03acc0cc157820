"""Home: what cnnviz is, the course's three ingredients and the to-do list of a classification task."""

import streamlit as st

import ui
from cnnviz.checkpoints import SHIPPED
from ui.screens import BY_ID, LECTURE_PATH, query_for

t, state = ui.page("home")


def link(screen_id: str, label_id: str, icon: str = ":material/arrow_forward:") -> None:
    st.page_link(BY_ID[screen_id].file, label=t(label_id), icon=icon)


st.title(t("home.title"))
st.markdown(t("home.intro"))

link("approximation", "home.function", ":material/function:")

st.header(t("home.ingredients"))
c1, c2, c3 = st.columns(3)
c1.markdown(t("home.data"))
c2.markdown(t("home.model"))
c3.markdown(t("home.loss"))

st.header(t("home.todo"))
TODO = [
    ("home.todo.data", "feature_maps", "home.todo.data_link"),
    ("home.todo.arch", "architecture", "home.todo.arch_link"),
    ("home.todo.loss", "training", "home.todo.loss_link"),
    ("home.todo.train", "training", "home.todo.train_link"),
    ("home.todo.test", "training", "home.todo.test_link"),
]
for i, (step_id, screen_id, label_id) in enumerate(TODO, start=1):
    left, right = st.columns([2, 3])
    left.markdown(f"**{i}.** {t(step_id)}")
    with right:
        link(screen_id, label_id)

st.header(t("home.blocks"))
cols = st.columns(3)
for col, (screen_id, label_id) in zip(cols, [
    ("convolution", "home.blocks.conv"),
    ("multichannel", "home.blocks.multi"),
    ("pooling", "home.blocks.pool"),
]):
    with col:
        link(screen_id, label_id, ":material/grid_on:")
link("translation", "home.blocks.shift", ":material/open_with:")
link("learning", "home.learn", ":material/school:")

st.header(t("home.class"))
link("exercises", "home.exercises", BY_ID["exercises"].icon)
link("class", "home.ask", BY_ID["class"].icon)

st.header(t("home.lecture"))
ui.intro(t("home.lecture_intro"))
present = st.toggle(t("home.lecture_present"), key="home_present_links")
for i, (label_id, screen_id, values) in enumerate(LECTURE_PATH, start=1):
    params = query_for(screen_id, t.lang, **values)
    if present:
        params["present"] = "1"
    st.page_link(BY_ID[screen_id].file, label=f"{i}. {t(label_id)}", icon=BY_ID[screen_id].icon,
                 query_params=params)

if SHIPPED.is_file():
    st.caption(t("home.offline"))
