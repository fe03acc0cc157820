"""The Training screen's test phase, once a job has stopped: test accuracy, scikit-learn's classification report
as a table, the confusion matrix, and a gallery of mistakes that each open in Feature maps with the network just
trained. The job evaluated the test set and saved its run itself; this only shows them: one accuracy per run (the
one its file records), with what it was measured on. A run its folder could not take is offered for download; a run
deleted or renamed by another session meanwhile is said to be gone."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.charts import chart
from ui.runs_manager import export_button, export_bytes_button
from ui.widgets import class_name, class_names, numbers_as_text, plain, show_error


def show_results(t, job, test) -> None:
    """The test phase of a job that is not running: the evaluation and the run it saved itself."""
    snap = job.snapshot()
    if snap.step == 0:
        return
    st.header(t("train.test_phase"))
    if snap.save_error is not None:
        show_error(snap.save_error)
    if snap.unsaved is not None:  # the run is fine, its folder is not: kept in this session for a download
        st.warning(t("train.unsaved"), icon=":material/save:")
        export_bytes_button(t, *snap.unsaved, key="train_export_unsaved")
    report = snap.evaluation
    if report is None:  # the job could not evaluate on its way out (the server stopping): once, here
        with st.spinner(t("train.evaluating")):
            report = job.test_report(test)
    if report is None:
        st.info(t("train.no_test_set"))
        return
    show_test_phase(t, report, test, Path(snap.saved_path) if snap.saved_path else None)


def show_test_phase(t, report, test, path) -> None:
    """Accuracy, classification report, confusion matrix and a gallery of mistakes, each opening in Feature maps."""
    import numpy as np

    from cnnviz.figures import confusion_figure, input_figure
    from ui.image_picker import show_test_image
    from ui.screens import BY_ID

    n = len(report.y_true)
    st.metric(t("train.test_accuracy"), t("train.percent", value=report.accuracy),
              help=t("train.test_accuracy_help", n=n))
    left, right = st.columns([1, 1])
    with left:
        st.markdown(t("train.report"))
        report_table(t, report, test.classes)
    chart(confusion_figure(report.confusion, class_names(test.classes), lang=t.lang), key="train_confusion",
          container=right)
    if path is not None and not path.exists():  # deleted or renamed by another session since
        st.warning(t("train.run_gone", name=plain(path.name)), icon=":material/folder_off:")
        path = None
    if path is not None:
        st.caption(t("train.saved", name=plain(path.name)))
        export_button(t, path, key="train_export_current")

    wrong_all = np.flatnonzero(report.y_true != report.y_pred)
    wrong = wrong_all[:12]
    st.markdown(t("train.mistakes", n=len(wrong_all), shown=len(wrong)))
    cols = st.columns(6)
    for k, i in enumerate(wrong):
        with cols[k % 6]:
            chart(input_figure(test.images[i], height=150), key=f"train_wrong_{i}")
            st.caption(t("train.mistake", index=str(int(i)), true=class_name(test.classes[report.y_true[i]]),
                         pred=class_name(test.classes[report.y_pred[i]])))
            if path is not None and st.button(t("train.inspect"), icon=":material/map:", key=f"train_open_{i}",
                                              help=t("train.inspect_help")):
                show_test_image("feature_maps", int(i), path.name)  # this test image, with the network just trained
                st.switch_page(BY_ID["feature_maps"].file)


def report_table(t, report, classes) -> None:
    """scikit-learn's classification report as a table: translated headers and class names."""
    import pandas as pd
    from sklearn.metrics import classification_report

    names = class_names(classes)
    d = classification_report(report.y_true, report.y_pred, labels=list(range(len(classes))),
                              target_names=[str(i) for i in range(len(classes))], zero_division=0, output_dict=True)
    rows = [dict(cls=names[i], precision=d[str(i)]["precision"], recall=d[str(i)]["recall"],
                 f1=d[str(i)]["f1-score"], support=int(d[str(i)]["support"])) for i in range(len(classes))]
    for key, label in (("macro avg", "train.report_macro"), ("weighted avg", "train.report_weighted")):
        rows.append(dict(cls=t(label), precision=d[key]["precision"], recall=d[key]["recall"],
                         f1=d[key]["f1-score"], support=int(d[key]["support"])))
    rows, right = numbers_as_text(t, rows, {"precision": ".1%", "recall": ".1%", "f1": ".1%", "support": ""})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="train_report_table", column_config={
        "cls": t("train.report_class"),
        **{k: {**right[k], "label": t(msg)} for k, msg in (("precision", "train.report_precision"),
                                                         ("recall", "train.report_recall"), ("f1", "train.report_f1"),
                                                         ("support", "train.report_support"))}})
