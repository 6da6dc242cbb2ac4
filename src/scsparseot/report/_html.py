"""The report's HTML page: one static file, no scripts, no server, no network."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from ._writer import DrugPage, ReportFigure

__all__ = ["anchor", "render", "versions"]

_GENE_COLUMNS = {
    "gene": "gene",
    "log_fc": "log2 FC",
    "mean_displacement": "mean Δ",
    "mean_abs_displacement": "mean |Δ|",
    "support_fraction": "cells moved",
    "rank": "rank",
    "adj_p_value": "adj. p",
    "selection_frequency": "selection freq.",
}

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2329;
       max-width: 1200px; margin: 0 auto; padding: 0 24px 48px; }
h1 { margin: 24px 0 4px; } h2 { margin-top: 36px; border-bottom: 2px solid #d0d7de; padding-bottom: 4px; }
h3 { margin: 20px 0 8px; }
.meta { color: #57606a; margin: 0 0 16px; }
nav { position: sticky; top: 0; background: #f6f8fa; border-bottom: 1px solid #d0d7de; padding: 6px 0;
      z-index: 1; }
nav a { margin-right: 14px; text-decoration: none; color: #0969da; white-space: nowrap; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: right; }
th { background: #f6f8fa; } td:first-child, th:first-child { text-align: left; }
tr.unselected td { color: #8c959f; }
table.params td { text-align: left; font-family: ui-monospace, monospace; font-size: 12px; }
.warnings { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 16px; }
.ok { background: #dafbe1; border: 1px solid #4ac26b; border-radius: 6px; padding: 8px 16px; }
figure { margin: 12px 0 20px; } figure img { max-width: 100%; border: 1px solid #eaeef2; }
figcaption { color: #57606a; font-size: 13px; max-width: 900px; }
.missing { color: #9a6700; font-style: italic; }
.figs { display: flex; flex-wrap: wrap; gap: 0 24px; align-items: flex-start; }
details { margin: 8px 0; } summary { cursor: pointer; color: #0969da; }
"""


def versions() -> dict[str, dict[str, str]]:
    """The session's Python, OS and CPU, and the version of every distribution it has loaded, from session-info2.

    Returns
    -------
    dict
        ``"session"``: Python, OS and CPU; ``"packages"``: scsparseot, then the distributions of
        what the calling script (``__main__``, a notebook's namespace) imported, in its order;
        ``"dependencies"``: every other loaded distribution, by name. Each maps a distribution's
        name to its version as :func:`session_info2.session_info` reports it.
    """
    import session_info2

    from .. import __version__

    si = session_info2.session_info(os=True, cpu=True, gpu=False, dependencies=True)
    info = json.loads(si.format("json"))
    # session-info2's "Updated" is the time of the call: the page says when it was written already
    session = {k: v for k, v in info["info"].items() if k != "Updated"}
    loaded = {r["package"]: r["version"] for r in info["packages"]}
    deps = {r["package"]: r["version"] for r in info.get("dependencies", [])}
    # the report is scsparseot's: its version comes first, however the caller imported it (a source
    # tree that was never installed is no distribution session-info2 can see: its own version then)
    first = {"scsparseot": loaded.pop("scsparseot", None) or deps.pop("scsparseot", None) or __version__}
    return {
        "session": session,
        "packages": {**first, **loaded},
        "dependencies": dict(sorted(deps.items(), key=lambda kv: kv[0].casefold())),
    }


def anchor(target: str) -> str:
    """The id of a target's section on the page."""
    return "drug-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in target)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A table cell: numbers to 3 significant digits, NaN as an empty cell, text escaped."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return ""
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return _esc(value)


_PERCENT = frozenset({"support_fraction", "responder_fraction", "selection_frequency"})


def _interval(s: Any) -> str:
    """`` (95% interval a–b)`` of the responder share, or nothing when it has none."""
    low, high = s.get("responder_fraction_low"), s.get("responder_fraction_high")
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f" (95% interval {low:.0%}–{high:.0%})"


def _table(df: pd.DataFrame, columns: dict[str, str], *, css: str, row_class: pd.Series | None = None) -> str:
    """An HTML table of ``columns`` (name → header) of ``df``; shares are written as percentages."""
    head = "".join(f"<th>{_esc(label)}</th>" for label in columns.values())
    rows = []
    for i, rec in enumerate(df[list(columns)].itertuples(index=False)):
        cls = f' class="{row_class.iloc[i]}"' if row_class is not None and row_class.iloc[i] else ""
        cells = [
            f"{v:.0%}" if name in _PERCENT and np.isfinite(v) else _fmt(v)
            for name, v in zip(columns, rec, strict=True)
        ]
        rows.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _param_value(value: Any) -> str:
    if isinstance(value, list) and len(value) > 12:
        shown = ", ".join(map(str, value[:12]))
        return _esc(f"[{shown}, … ({len(value)} in all)]")
    if isinstance(value, dict):
        return "<br>".join(f"{_esc(k)}: {_param_value(v)}" for k, v in value.items()) or "{}"
    return _esc(value)


def _image(out: Path, fig: ReportFigure, *, embed: bool) -> str:
    if fig.path is None:
        return f'<p class="missing">Figure not drawn: {_esc(fig.error)}</p>'
    if embed:
        data = base64.b64encode((out / fig.path).read_bytes()).decode("ascii")
        src = f"data:image/png;base64,{data}"
    else:
        src = _esc(fig.path)
    return (
        f'<figure><img src="{src}" alt="{_esc(fig.caption)}">'
        f"<figcaption>{_esc(fig.caption)}</figcaption></figure>"
    )


def _drug(out: Path, page: DrugPage, *, top_n: int, embed: bool) -> str:
    s = page.summary
    selected = page.genes[page.genes["selected"]]
    if len(selected):
        shown, what = selected, f"{len(selected)} selected gene(s)"
    else:
        shown, what = page.genes.head(top_n), f"no gene selected; the {top_n} best-ranked genes"
    columns = {k: v for k, v in _GENE_COLUMNS.items() if not shown[k].isna().all()} if len(shown) else {}
    columns = columns or {"gene": "gene"}
    facts = (
        f"{s['n_source']} control and {s['n_target']} treated cells, {s['n_genes']} genes fitted; "
        f"{s['avg_dim']:.1f} genes moved per cell on average; estimated responders "
        f"{s['responder_fraction']:.0%}{_interval(s)}; λ = {s['lam']:.3g}; sliced-W error {s['sliced_w']:.3g}; "
        f"{s['n_iters']} iterations, {s['seconds']:.0f} s, {_esc(s['reason'])}"
        + ("" if s["converged"] else " (not converged)")
        + ("; diverged" if s["diverged"] else "")
        + "."
    )
    figures = "".join(_image(out, f, embed=embed) for f in page.figures)
    return (
        f'<section class="drug" id="{anchor(page.target)}" data-target="{_esc(page.target)}">'
        f"<h2>{_esc(page.target)}</h2><p>{facts}</p>"
        f"<h3>Genes: {what}</h3>"
        + _table(
            shown, columns, css="genes", row_class=(~shown["selected"]).map({True: "unselected", False: ""})
        )
        + f'<p>All genes: <a href="{_esc(page.folder)}/genes.tsv">{_esc(page.folder)}/genes.tsv</a></p>'
        + f'<div class="figs">{figures}</div></section>'
    )


def render(
    out: Path,
    *,
    title: str,
    key: str,
    source_file: str | None,
    params: dict[str, Any],
    warnings: list[str],
    notes: list[str],
    summary: pd.DataFrame,
    overview: list[ReportFigure],
    pages: list[DrugPage],
    top_n: int,
    groupby: str | None,
    embed_images: bool,
) -> str:
    """The page's HTML text."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    origin = f"{_esc(source_file)}, " if source_file else ""
    meta = (
        f"{origin}results under key <code>{_esc(key)}</code>; {len(pages)} drug(s) against "
        f"<code>{_esc(params.get('source'))}</code> (<code>obs[{_esc(params.get('groupby'))!r}]</code>), "
        f"method <code>{_esc(params.get('method', 'sparse_icnn'))}</code>"
        + (f", response by <code>{_esc(groupby)}</code>" if groupby else "")
        + f". Written {stamp}."
    )
    nav = "".join(f'<a href="#{anchor(p.target)}">{_esc(p.target)}</a>' for p in pages)
    issues = [*(f"Warning raised by the fit: {w}" for w in warnings), *notes]
    if issues:
        alert = (
            '<div class="warnings" id="warnings"><ul>'
            + "".join(f"<li>{_esc(m)}</li>" for m in issues)
            + "</ul></div>"
        )
    else:
        alert = '<div class="ok" id="warnings">The fit raised no warnings.</div>'
    summary_cols = {
        "target": "drug",
        "n_selected_genes": "selected genes",
        "avg_dim": "genes moved / cell",
        "responder_fraction": "responders",
        "n_source": "control cells",
        "n_target": "treated cells",
        "sliced_w": "sliced-W error",
        "lam": "λ",
        "n_iters": "iterations",
        "converged": "converged",
        "reason": "stopped",
        "seconds": "seconds",
    }
    links = summary.assign(target=summary["target"])
    summary_html = _table(links, summary_cols, css="summary")
    for p in pages:  # drug names link to their sections
        cell = f"<td>{_esc(p.target)}</td>"
        summary_html = summary_html.replace(
            cell, f'<td><a href="#{anchor(p.target)}">{_esc(p.target)}</a></td>', 1
        )
    params_rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_param_value(v)}</td></tr>" for k, v in params.items())
    version_rows = "".join(
        f'<tr><th colspan="2">{heading}</th></tr>'
        + "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in rows.items())
        for heading, rows in zip(("Session", "Packages", "Dependencies"), versions().values(), strict=True)
        if rows
    )
    overview_figs = "".join(_image(out, f, embed=embed_images) for f in overview)
    drugs = "".join(_drug(out, p, top_n=top_n, embed=embed_images) for p in pages)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_esc(title)}</h1>
<p class="meta">{meta}</p>
<nav><a href="#summary">Summary</a>{nav}<a href="#parameters">Parameters</a><a href="#versions">Versions</a></nav>
<h2 id="summary">Summary</h2>
{alert}
<p>One row per drug (<a href="summary.tsv">summary.tsv</a>); every drug's genes in
<a href="genes.tsv">genes.tsv</a>, selected genes first.</p>
{summary_html}
<div class="figs">{overview_figs}</div>
{drugs}
<h2 id="parameters">Parameters</h2>
<p>The arguments of <code>scsparseot.tl.sparse_ot</code> as resolved for this fit.</p>
<table class="params"><tbody>{params_rows}</tbody></table>
<h2 id="versions">Versions</h2>
<p>Of the session that wrote this report, as session-info2 reports them: the packages its script imported (scsparseot first), then every other distribution it had loaded.</p>
<table class="params versions"><tbody>{version_rows}</tbody></table>
</body></html>
"""
