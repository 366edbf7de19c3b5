"""Showing a figure: presentation-mode type, the chart's own PNG button, and downloads of the figure and numbers.

Figures are exported in the visitor's browser: Plotly's camera button (in the chart's mode bar, top right)
saves a PNG at twice the screen resolution. Server-side PNG/SVG export would need kaleido, which drives a
Chrome/Chromium it must find on the server (its own browser download cannot work offline); an app for a
classroom laptop should not need a browser installed beside it. So the *Download* menu offers the figure as a
standalone HTML file (interactive, opens offline; its camera button saves SVG) and the numbers as CSV.
"""

from __future__ import annotations

import io

import plotly.graph_objects as go
import streamlit as st

from zsl_app import state

PRESENT_FONT = 17


def config(name: str, fmt: str = "png") -> dict:
    """Plotly's in-browser export settings: the camera button saves ``name.png`` at twice the size."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": name, "scale": 2}}


def figure_html(fig: go.Figure, name: str) -> bytes:
    """A standalone, offline HTML file of ``fig`` whose camera button saves SVG."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config=config(name, "svg")).encode("utf-8")


def table_csv(table) -> bytes:
    """CSV of a table, or of the table a zero-argument callable builds (built only when downloaded: a
    slider move should not build a DataFrame nobody asked for)."""
    table = table() if callable(table) else table
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def show(fig: go.Figure, key: str, name: str, table=None, container=None, **kwargs):
    """``st.plotly_chart`` with the app's export settings, larger type in presentation mode, and a *Download*
    menu (HTML figure, CSV numbers) under it outside presentation mode. ``table``: a ``pd.DataFrame`` or a
    zero-argument callable returning one (then built only when downloaded). Returns what ``st.plotly_chart``
    returns.
    """
    box = container or st
    if state.presenting():
        fig.update_layout(font=dict(size=PRESENT_FONT))
    event = box.plotly_chart(fig, key=key, config=config(name), width=kwargs.pop("width", "stretch"), **kwargs)
    if not state.presenting():
        downloads(fig, key, name, table, box)
    return event


def downloads(fig: go.Figure | None, key: str, name: str, table=None, container=None) -> None:
    """A small *Download* menu: the figure (HTML, SVG from its camera button) and its numbers (CSV)."""
    box = container or st
    menu = box.popover("Download", icon=":material/download:", width="content", key=f"dl.{key}")
    if fig is not None:
        menu.download_button("Figure (HTML, interactive)", data=lambda: figure_html(fig, name),
                             file_name=f"{name}.html", mime="text/html", key=f"dl_fig.{key}",
                             icon=":material/image:", on_click="ignore")
        menu.caption("PNG: the camera button at the chart's top right. SVG: the same button in the HTML file.")
    if table is not None:
        menu.download_button("Numbers (CSV)", data=lambda: table_csv(table), file_name=f"{name}.csv",
                             mime="text/csv", key=f"dl_csv.{key}", icon=":material/table:", on_click="ignore")
