"""How a figure is shown to one reader: numbers in the reader's language, text sizes for the presenter view and
the phone. Applied in ONE place — every chart of the app goes through `ui.charts.chart` (and
`ui.shared_cache.figure`) — so a figure builder in cnnviz/figures*.py only builds the figure, once for everyone,
and each session gets it styled for its language and screen:

    styled = style(fig.to_dict(), "fr", View(present=True, width=1280, height=720))

- separators: ',' and a narrow no-break space in French ("0,5", "12 345"), plotly's own minus "−0,5";
- axes: a percent axis gets its ticks written by Babel ("20 %" — plotly's d3 formats cannot put the space);
  powers of ten as 10⁶ (never "1M", "10B", "1T"); French thousands grouped;
- the presenter view: every text at least MIN_SHARE of the viewport's height (3 % at 1280×720 and 1920×1080),
  figures as tall as the screen allows (`share`), margins that hold the bigger titles, no toolbar over them;
- a phone (narrower than NARROW px): side-by-side panels (marked by their builder with `stackable(layout)`)
  stacked one above the other;
- `alt_text`: a short text alternative for screen readers, from the figure's own titles.

`style` is idempotent (the builder's sizes are kept in layout.meta), never changes its argument, and reads
numeric arrays only to find a percent axis's extent. Nothing here imports Streamlit.
"""

from __future__ import annotations

import base64
import copy
import math
import re
from dataclasses import dataclass

import numpy as np

from cnnviz.i18n import format_number, tr

NARROW = 640  # px: below this a phone (Streamlit stacks st.columns at the same width)
DEFAULT_PRESENTER = (1280, 720)  # a projector, until the browser has said otherwise
MIN_SHARE = 0.031  # presenter view: every text in a figure at least 3.1 % of the viewport's height
TITLE_RATIO = 1.15  # titles a little larger than the numbers
NORMAL_MIN_FONT = 12  # plotly's own default: no text smaller, anywhere
TEXT_COLOR = "#31333f"  # Streamlit's text colour: plotly's grey titles are too pale on a projector
SEPARATORS = {"fr": ",\u202f", "en": ".,"}  # decimal sign, then thousands separator
META = "cnnviz"  # layout.meta[META]: what style() needs to stay idempotent, and builders' hints


@dataclass(frozen=True)
class View:
    """The reader's screen as far as figures are concerned."""

    present: bool = False
    width: int | None = None  # px of the browser window, None when unknown
    height: int | None = None

    @property
    def narrow(self) -> bool:
        return self.width is not None and self.width < NARROW

    @property
    def min_font(self) -> int:
        """The smallest text a figure may show in this view (px)."""
        if self.present:
            return math.ceil(MIN_SHARE * (self.height or DEFAULT_PRESENTER[1]))
        return NORMAL_MIN_FONT

    def for_figures(self) -> "View":
        """What style() and plotly_config() read of this view — the width only on a phone, the height only in
        the presenter view: two readers with the same for_figures() see the same figure (a styled figure made
        once serves both)."""
        return View(self.present, self.width if self.narrow else None, self.height if self.present else None)


STACKABLE = {META: {"stackable": True}}  # layout.meta of a figure whose side-by-side panels a phone may stack


def stackable(layout: dict) -> dict:
    """Mark a layout of side-by-side panels (xaxis, xaxis2, … each with its yaxis) as one that a phone may show
    stacked: style() then gives each panel the full width, one under the other."""
    layout.setdefault("meta", {}).setdefault(META, {})["stackable"] = True
    return layout


# ---------------------------------------------------------------- the one entry point

def style(fig: dict, lang: str, view: View, share: float | None = None) -> dict:
    """`fig` (a figure's dict: {"data": [...], "layout": {...}, "frames": ...}) styled for `lang` and `view`.

    `share`: in the presenter view, the figure's height as a share of the viewport's (the screen's main figure);
    otherwise its builder's height grows with the screen. Returns a new dict; `fig` is not changed (it may be a
    figure shared by every session)."""
    # plotly's template (half of a small figure's dict) is only read here: shared with `fig`, not copied
    layout = {k: v if k == "template" else copy.deepcopy(v) for k, v in (fig.get("layout") or {}).items()}
    data = [dict(trace) for trace in fig.get("data") or ()]
    meta = layout.setdefault("meta", {}) if isinstance(layout.get("meta", {}), dict) else {}
    hints = meta.setdefault(META, {})
    base = hints.setdefault("base", {"height": layout.get("height"), "margin": dict(layout.get("margin") or {})})
    # what it was styled for, readable in the browser (the browser tests wait for charts drawn for their window)
    hints["view"] = {"present": view.present, "narrow": view.narrow, "height": view.height if view.present else None}
    layout["separators"] = SEPARATORS.get(lang, SEPARATORS["en"])
    _axes(layout, data, lang)
    if view.narrow and hints.get("stackable") and not hints.get("stacked"):
        _stack(layout, data, view)
        hints["stacked"] = True
    if view.present or view.narrow:
        _fonts(layout, data, view.min_font)
    if view.present:
        _present_size(layout, base, view, share)
    return {**fig, "data": data, "layout": layout}


# ---------------------------------------------------------------- numbers

def _axis_names(layout: dict) -> list[str]:
    return [k for k in layout if re.fullmatch(r"[xy]axis\d*", k)]


def _used_axes(layout: dict, data: list[dict]) -> list[str]:
    """The layout's axes and every axis a trace is drawn on ("x2" -> "xaxis2"): Streamlit's theme gives an axis
    left out of the layout its own 12 px ticks, so each one is written down."""
    names = set(_axis_names(layout))
    for trace in data:
        if trace.get("type", "scatter") in ("pie", "sunburst", "treemap", "table", "indicator", "funnelarea"):
            continue
        for letter in "xy":
            ref = str(trace.get(f"{letter}axis") or letter)
            names.add(f"{letter}axis{ref[1:]}")
    return sorted(names or {"xaxis", "yaxis"})


def _axes(layout: dict, data: list[dict], lang: str) -> None:
    for name in _used_axes(layout, data):
        axis = layout.setdefault(name, {})
        if axis.get("type") == "log":
            axis.setdefault("exponentformat", "power")  # 10⁶, never 1M / 10B / 1T
        elif lang == "fr":
            axis.setdefault("exponentformat", "power")
            axis.setdefault("separatethousands", True)  # "10 000", as Babel writes it
        fmt = axis.get("tickformat") or ""
        if lang != "en" and fmt.endswith("%") and "ticktext" not in axis:
            _percent_ticks(name, axis, layout, data, lang, fmt)


def _percent_ticks(name: str, axis: dict, layout: dict, data: list[dict], lang: str, fmt: str) -> None:
    """A percent axis with its ticks written by Babel ("20 %"): explicit tickvals/ticktext over its extent."""
    lo_hi = axis.get("range")
    if axis.get("matches"):  # drawn from the axis it matches
        lo_hi = lo_hi or layout.get(axis["matches"][0] + "axis" + axis["matches"][1:], {}).get("range")
    if not lo_hi or axis.get("autorange") not in (None, False):
        extent = _extent(name, data)
        if extent is None:
            return
        lo_hi = extent
    lo, hi = sorted(float(v) for v in lo_hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return
    values, digits = nice_ticks(lo, hi)
    asked = re.fullmatch(r",?\.(\d+)~?%", fmt)  # ".0%", ".1%": the builder's digits, at least
    digits = max(digits, int(asked.group(1)) if asked else 0)
    axis["tickvals"] = values
    axis["ticktext"] = [format_number(lang, v, f".{digits}%") for v in values]
    axis.pop("tickformat", None)
    axis.setdefault("range", [lo, hi])


def nice_ticks(lo: float, hi: float, target: int = 5) -> tuple[list[float], int]:
    """About `target` round tick values in [lo, hi] (fractions: 0.2 = 20 %) and the percent digits they need."""
    span = hi - lo if hi > lo else 1.0
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda st: abs(span / st - target))
    first = math.ceil(lo / step - 1e-9) * step
    values = [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]
    digits = 0  # decimals of the step in percent: 20 -> 0, 2.5 -> 1, 0.25 -> 2
    while digits < 4 and round(step * 100 * 10 ** digits, 6) % 1:
        digits += 1
    return values, digits


def _numbers(values) -> np.ndarray | None:
    """A trace's coordinate array as floats: a list, a numpy array, or plotly's typed-array dict."""
    if values is None:
        return None
    if isinstance(values, dict) and "bdata" in values:
        a = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values.get("dtype", "f8")))
    else:
        try:
            a = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            return None
    a = a.astype(np.float64, copy=False).ravel()
    a = a[np.isfinite(a)]
    return a if a.size else None


def _extent(axis_name: str, data: list[dict]) -> tuple[float, float] | None:
    letter, suffix = axis_name[0], axis_name[5:]
    ref = letter + suffix
    values = [_numbers(trace.get(letter)) for trace in data
              if (trace.get(f"{letter}axis") or letter) == ref]
    values = [v for v in values if v is not None]
    if not values:
        return None
    allv = np.concatenate(values)
    return float(min(0.0, allv.min()) if allv.min() >= 0 and allv.max() <= 1 else allv.min()), float(allv.max())


# ---------------------------------------------------------------- text sizes

_FONT_KEY = re.compile(r".*font$")


def _grow_fonts(obj, size: int) -> None:
    """Every font set in `obj` (a part of the layout, or of a trace) at least `size` px."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if _FONT_KEY.fullmatch(key) and isinstance(value, dict):
                if not isinstance(value.get("size"), (int, float)) or value["size"] < size:
                    value["size"] = size
            elif isinstance(value, (dict, list)) and key != "steps":
                _grow_fonts(value, size)
    elif isinstance(obj, list):
        for value in obj:
            if isinstance(value, dict):
                _grow_fonts(value, size)


def _fonts(layout: dict, data: list[dict], size: int) -> None:
    layout["font"] = {**(layout.get("font") or {}), "size": max(size, (layout.get("font") or {}).get("size") or 0)}
    legend = layout["legend"] = dict(layout.get("legend") or {})  # Streamlit's theme draws a legend at 12 px
    legend["font"] = {**(legend.get("font") or {}), "size": max(size, (legend.get("font") or {}).get("size") or 0)}
    for key, value in layout.items():
        if key in ("font", "meta", "template", "shapes", "sliders"):
            continue
        if key == "title":
            if isinstance(value, str):
                layout["title"] = value = {"text": value}
            value["font"] = {**(value.get("font") or {}), "size": max(round(size * TITLE_RATIO),
                                                                        (value.get("font") or {}).get("size") or 0)}
            value["font"].setdefault("color", TEXT_COLOR)
        elif key == "annotations":
            for ann in value:
                ann["font"] = {**(ann.get("font") or {}), "size": max(size, (ann.get("font") or {}).get("size") or 0)}
                ann["font"].setdefault("color", TEXT_COLOR)
        elif isinstance(value, dict):
            _grow_fonts(value, size)
            if re.fullmatch(r"[xy]axis\d*", key):
                _axis_title_fonts(value, size)
    for menu in layout.get("updatemenus") or ():  # Play / Pause
        menu["font"] = {**(menu.get("font") or {}), "size": max(size, (menu.get("font") or {}).get("size") or 0)}
    for slider in layout.get("sliders") or ():
        for part in ("font",):
            slider[part] = {**(slider.get(part) or {}), "size": max(size, (slider.get(part) or {}).get("size") or 0)}
        cv = slider.setdefault("currentvalue", {})
        cv["font"] = {**(cv.get("font") or {}), "size": max(size, (cv.get("font") or {}).get("size") or 0)}
    for i, trace in enumerate(data):
        trace = data[i] = {k: copy.deepcopy(v) if _small(k, v) else v for k, v in trace.items()}
        for key in ("textfont", "insidetextfont", "outsidetextfont"):
            if key in trace or (key == "textfont" and (trace.get("text") is not None or trace.get("texttemplate"))):
                font = trace[key] = dict(trace.get(key) or {})
                if not isinstance(font.get("size"), (int, float)) or font["size"] < size:
                    font["size"] = size
        _grow_fonts({k: v for k, v in trace.items() if k in ("colorbar", "marker", "hoverlabel", "legendgrouptitle")},
                    size)
        if trace.get("type") in ("heatmap", "contour", "histogram2d") and trace.get("showscale") is not False:
            trace["colorbar"] = dict(trace.get("colorbar") or {})  # a colour bar the theme would draw at 12 px
        if isinstance(trace.get("colorbar"), dict):
            cb = trace["colorbar"]
            cb["tickfont"] = {**(cb.get("tickfont") or {}), "size": max(size, (cb.get("tickfont") or {}).get("size") or 0)}
        marker = trace.get("marker")
        if isinstance(marker, dict) and isinstance(marker.get("colorbar"), dict):
            cb = marker["colorbar"]
            cb["tickfont"] = {**(cb.get("tickfont") or {}), "size": max(size, (cb.get("tickfont") or {}).get("size") or 0)}


def _small(key: str, value) -> bool:
    """A trace's attribute worth copying before changing it (not its data arrays)."""
    return key in ("textfont", "insidetextfont", "outsidetextfont", "colorbar", "marker", "hoverlabel",
                   "legendgrouptitle") and isinstance(value, dict)


def _axis_title_fonts(axis: dict, size: int) -> None:
    axis["tickfont"] = {**(axis.get("tickfont") or {}), "size": max(size, (axis.get("tickfont") or {}).get("size") or 0)}
    title = axis.get("title")
    if isinstance(title, str):
        axis["title"] = title = {"text": title}
    if isinstance(title, dict):
        title["font"] = {**(title.get("font") or {}), "size": max(size, (title.get("font") or {}).get("size") or 0)}


def _top_lines(layout: dict) -> float:
    """Lines of text in the top margin: the title's, and one for panel titles set above the plot area."""
    title = layout.get("title") or {}
    text = title.get("text") if isinstance(title, dict) else title
    lines = (str(text).count("<br>") + 1) * TITLE_RATIO if text else 0.0
    tops = [a for a in layout.get("annotations") or () if a.get("yref") == "paper" and a.get("yanchor") == "bottom"
            and float(a.get("y", 0)) >= 0.98]
    if tops:
        lines += max(str(a.get("text", "")).count("<br>") + 1 for a in tops)
    legend = layout.get("legend") or {}
    if legend.get("orientation") == "h" and float(legend.get("y", 0) or 0) >= 1 and layout.get("showlegend", True):
        lines += 1
    return lines


def _present_size(layout: dict, base: dict, view: View, share: float | None) -> None:
    """Height from the viewport; the top margin holds the (bigger) titles; the modebar is off (ui.charts)."""
    vh = view.height or DEFAULT_PRESENTER[1]
    size = view.min_font
    built = base.get("height") or 450
    if share is not None:
        height = share * vh
    else:
        height = min(built * vh / 600, 0.85 * vh)
    layout["height"] = int(round(height))
    margin = dict(layout.get("margin") or {})
    margin["t"] = int(max(margin.get("t", 0) or 0, _top_lines(layout) * size * 1.35 + 12))
    for side in ("l", "r", "b"):
        margin[side] = int(max(margin.get(side, 0) or 0, 10))
    layout["margin"] = margin
    menus, sliders = layout.get("updatemenus") or [], layout.get("sliders") or []
    if menus or sliders:  # Play / Pause and the frame slider under the axis' ticks and title, not over them
        titled = any((layout[a].get("title") or {}).get("text") for a in _axis_names(layout) if a.startswith("x"))
        below = size * (3.2 if titled else 1.8)  # px under the plot area: tick labels (and the axis title)
        margin["b"] = int(max(margin["b"], below + size * (4.2 if sliders else 2.4)))
        plot = max(1.0, layout["height"] - margin["t"] - margin["b"])
        for control in [*menus, *sliders]:
            control.update(y=-below / plot, yanchor="top")


# ---------------------------------------------------------------- phone

def _stack(layout: dict, data: list[dict], view: View) -> None:
    """Side-by-side panels one under the other, each the full width (their titles move with them)."""
    xs = sorted((k for k in _axis_names(layout) if k.startswith("x")),
                key=lambda k: (layout[k].get("domain") or [0, 1])[0])
    n = len(xs)
    if n < 2:
        return
    gap = 0.08
    slot = (1.0 - gap * (n - 1)) / n
    old = {}
    for i, xname in enumerate(xs):
        yname = "y" + xname[1:]
        if yname not in layout:
            continue
        x0, x1 = (layout[xname].get("domain") or [0, 1])
        old[i] = ((x0 + x1) / 2, x0, x1)
        top = 1.0 - i * (slot + gap)
        layout[xname]["domain"] = [0.0, 1.0]
        layout[yname]["domain"] = [max(0.0, top - slot), top]
    for ann in layout.get("annotations") or ():
        if ann.get("xref") != "paper" or ann.get("yref") != "paper":
            continue
        x = float(ann.get("x", 0.5))
        for i, (_mid, x0, x1) in old.items():
            if x0 - 1e-6 <= x <= x1 + 1e-6:
                top = 1.0 - i * (slot + gap)
                ann.update(x=0.5, y=top, xanchor="center", yanchor="bottom")
                break
    width = max(200, (view.width or NARROW) - 40)  # the chart's width on a phone
    base = (layout.get("meta") or {}).get(META, {}).get("base", {})
    per_panel = min(width, max(220, (base.get("height") or 380) - 60))  # px of one panel: at most square
    margin = layout.get("margin") or {}
    layout["height"] = int(per_panel / slot + (margin.get("t") or 40) + (margin.get("b") or 10))
    legend = layout.get("legend")
    if isinstance(legend, dict) and legend.get("orientation") == "h" and float(legend.get("y", 0) or 0) < 0:
        legend["y"] = -0.08 / n


# ---------------------------------------------------------------- text alternative

_TAGS = re.compile(r"<[^>]+>")


def _plain(text) -> str:
    return re.sub(r"\s+", " ", _TAGS.sub(" ", str(text or ""))).strip()


def alt_text(fig: dict, lang: str) -> str:
    """A short description for screen readers, in the reader's language, from the figure's own titles: its
    title, its panels' titles and its axes' titles ("Chart: Input 5×5; Kernel 3×3; Output 3×3")."""
    layout = fig.get("layout") or {}
    parts = []
    title = layout.get("title")
    parts.append(_plain(title.get("text") if isinstance(title, dict) else title))
    for ann in layout.get("annotations") or ():
        if ann.get("yref") == "paper" and ann.get("showarrow") is False:
            parts.append(_plain(ann.get("text")))
    for name in sorted(_axis_names(layout)):
        t = layout[name].get("title")
        parts.append(_plain(t.get("text") if isinstance(t, dict) else t))
    names = [_plain(tr_.get("name")) for tr_ in fig.get("data") or () if tr_.get("showlegend") is not False
             and tr_.get("name") and layout.get("showlegend", True) and tr_.get("type") not in ("heatmap", "image")]
    seen, kept = set(), []
    for p in parts + names[:6]:
        if p and p not in seen:
            seen.add(p)
            kept.append(p)
    if not kept:
        return tr(lang, "fig.alt_untitled")
    return tr(lang, "fig.alt", what="; ".join(kept)[:400])


# ---------------------------------------------------------------- plotly's own texts (the chart toolbar)

MODEBAR_IDS = {  # plotly.js's English string -> catalogue id (config.locales[lang].dictionary)
    "Download plot as a PNG": "plotly.download_png", "Download plot": "plotly.download",
    "Zoom": "plotly.zoom", "Pan": "plotly.pan", "Box Select": "plotly.box_select",
    "Lasso Select": "plotly.lasso_select", "Zoom in": "plotly.zoom_in", "Zoom out": "plotly.zoom_out",
    "Autoscale": "plotly.autoscale", "Reset axes": "plotly.reset_axes", "Reset view": "plotly.reset_view",
    "Toggle Spike Lines": "plotly.spikelines", "Show closest data on hover": "plotly.hover_closest",
    "Compare data on hover": "plotly.hover_compare", "Double-click to zoom back out": "plotly.zoom_back",
    "Snapshot succeeded": "plotly.snapshot_ok", "Taking snapshot - this may take a few seconds": "plotly.snapshot",
    "Sorry, there was a problem downloading your snapshot!": "plotly.snapshot_failed",
    "Produced with Plotly.js": "plotly.produced",
}


NOT_IN_TOOLBAR = ("zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d", "resetScale2d", "select2d", "lasso2d")


def plotly_config(lang: str, view: View) -> dict:
    """st.plotly_chart's `config`: plotly's own texts (the toolbar's tooltips) in the reader's language, the
    numbers' separators, and no toolbar in the presenter view or on a phone (it would cover a title)."""
    # The toolbar keeps "download" (and Streamlit's full screen): zoom and pan buttons are of little use on grids
    # and maps, and each is a Tab stop — eight per chart for a keyboard user to walk through.
    config: dict = {"displaylogo": False, "modeBarButtonsToRemove": list(NOT_IN_TOOLBAR)}
    if lang != "en":
        dec, group = SEPARATORS.get(lang, SEPARATORS["en"])
        config["locale"] = lang
        config["locales"] = {lang: {
            "dictionary": {english: tr(lang, msg) for english, msg in MODEBAR_IDS.items()},
            "format": {"decimal": dec, "thousands": group}}}
    if view.present or view.narrow:  # a projector, or a phone (where it stays shown): it would cover a title
        config["displayModeBar"] = False
    return config
