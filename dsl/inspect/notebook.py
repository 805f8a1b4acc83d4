"""A graph in a notebook: what Jupyter shows for a `Graph` (its blocks view above its summary table).

The core's graph asks `dsl.core.graph.DISPLAY` for its rich display; `dsl` registers a display there on
import that calls `bundle` and `table`, so the graph itself imports no drawing or summary code."""

from __future__ import annotations

import re
from collections.abc import Container

from dsl.core.graph import Graph


def bundle(
    graph: Graph, include: Container[str] | None = None, exclude: Container[str] | None = None
) -> dict[str, str]:
    """Jupyter's mime bundle of `graph`: the blocks view as SVG, the same diagram above the summary
    table as HTML (notebooks prefer HTML), `describe()` as plain text. Without a diagram (no
    Graphviz, `dot` failed, over 2,000 ops) the SVG is left out and the HTML says why."""

    def wanted(mime: str) -> bool:
        return (include is None or mime in include) and (exclude is None or mime not in exclude)

    out: dict[str, str] = {}
    if wanted("text/plain"):
        out["text/plain"] = graph.describe()
    if not (wanted("image/svg+xml") or wanted("text/html")):
        return out
    from dsl.draw import notebook_svg
    from dsl.inspect.summary import as_html

    svg, note = notebook_svg(graph)
    if svg is not None and wanted("image/svg+xml"):
        out["image/svg+xml"] = svg
    if wanted("text/html"):
        picture = ""  # dot's SVG element, without the XML prolog, doctype and comments before it
        start = re.search(r"^<svg\b", svg, re.MULTILINE) if svg is not None else None
        if svg is not None and start is not None:
            picture = svg[start.start() :]
        out["text/html"] = f'<div class="netc-graph">\n{picture}{as_html(graph, note=note)}\n</div>'
    return out


def table(graph: Graph) -> str:
    """The summary table alone, as HTML (no Graphviz run)."""
    from dsl.inspect.summary import as_html

    return as_html(graph)
