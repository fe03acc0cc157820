"""Home: what cnnviz is, the course's three ingredients and the to-do list of a classification task."""

import streamlit as st

import ui
from cnnviz.checkpoints import SHIPPED

ui.require_app()

st.title("cnnviz — look inside a convolutional neural network")
st.markdown(
    "A companion to the course *Machine learning for image processing*: explore convolution and pooling "
    "one multiplication at a time, then open up a **real trained network** — its feature maps, how it "
    "reacts when the image moves, how it learns, and how its shapes and parameters are computed."
)

st.subheader("Learning from examples: three ingredients")
c1, c2, c3 = st.columns(3)
c1.markdown("**1 · Training data**  \nLabelled examples $\\{x_1, \\dots, x_N\\}$ — here Fashion-MNIST "
            "(the project) or CIFAR-10 (the lab), each image with its class.")
c2.markdown("**2 · A model** $x \\mapsto f(x;\\theta) = y$  \nA CNN: convolutions extract features, "
            "linear layers classify them. $\\theta$ are its weights.")
c3.markdown("**3 · A loss to minimise**  \n$\\operatorname{argmin}_\\theta\\, E(\\theta; x_1, \\dots, x_N)$ — "
            "cross-entropy by default, minimised by SGD with momentum.")

st.subheader("To-do list of a classification task")
TODO = [
    ("A dataset split into training and test sets", "pages/feature_maps.py", "Browse the test images"),
    ("A network architecture", "pages/architecture.py", "Shapes and parameters of the course's Net"),
    ("A loss to minimise", "pages/training.py", "Choose cross-entropy, MSE or L1"),
    ("The training phase", "pages/training.py", "Watch the loss fall, batch after batch"),
    ("The test phase", "pages/training.py", "Classification report and confusion matrix"),
]
for i, (step, page, label) in enumerate(TODO, start=1):
    left, right = st.columns([2, 3])
    left.markdown(f"**{i}.** {step}")
    with right:
        st.page_link(page, label=label, icon=":material/arrow_forward:")

st.subheader("The building blocks, step by step")
cols = st.columns(3)
for col, (page, label) in zip(cols, [
    ("pages/convolution.py", "Convolution: every product and sum"),
    ("pages/multichannel.py", "Several channels, several filters"),
    ("pages/pooling.py", "2×2 max pooling"),
]):
    with col:
        st.page_link(page, label=label, icon=":material/grid_on:")
st.page_link("pages/translation.py", label="Does the prediction survive a shift of the image?", icon=":material/open_with:")

if SHIPPED.is_file():
    st.caption("A small network trained on Fashion-MNIST ships with the app, so every screen works offline.")
