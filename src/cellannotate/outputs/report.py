"""``web_summary_cell_types.html``: one self-contained page, readable offline.

Plots are inline SVG drawn here (no JavaScript, no fonts or scripts fetched at view
time); one tab per model, switched with CSS only. The embedding scatter draws at most
``MAX_POINTS`` cells, sampled evenly, so the page stays small for a million cells.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from cellannotate import __version__
from cellannotate.annotators import registry
from cellannotate.celltypes import UNASSIGNED, CellTypeTable
from cellannotate.io.spaceranger import TissueLayout
from cellannotate.outputs.diffexp import DiffExpResult
from cellannotate.outputs.tissue_view import tissue_svg
from cellannotate.validation.report import ValidationReport

MAX_POINTS = 5000
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79",
]
UNASSIGNED_COLOUR = "#cccccc"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#24303f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d3df;font-size:13px}main{padding:16px 24px;max-width:1200px}
.card{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:12px 16px;margin:12px 0}
.card h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}th{color:#555;font-weight:600}
.warn{color:#8a5300;background:#fff6e5;border-left:4px solid #f0a020;padding:6px 10px;margin:4px 0;font-size:13px}
.tabs>input{display:none}.tabs>label{display:inline-block;padding:8px 16px;margin-right:4px;border:1px solid #dde2e8;
border-bottom:none;border-radius:6px 6px 0 0;background:#e9edf2;cursor:pointer;font-weight:600}
.tabs>.panel{display:none;border-top:1px solid #dde2e8}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid>.card{flex:1 1 520px}
svg text{font-size:11px;fill:#333}.legend span{display:inline-block;margin:2px 10px 2px 0;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
"""


@dataclass
class ModelSection:
    """What one tab shows: a model's labels, its differential expression and, with a Space Ranger
    folder, where its cells lie."""

    table: CellTypeTable
    diffexp: DiffExpResult | None
    tissue: TissueLayout | None = None


def _esc(value) -> str:
    return html.escape(str(value))


def _title(folder: str) -> str:
    """What a model is called in the report: its registry title, else its folder name."""
    model = registry.by_folder(folder)
    return model.title if model else folder


def _plan_rows(validation: ValidationReport, sections: list[ModelSection]) -> list[tuple]:
    """One row per known model: what it labelled, or why it did not run for this sample."""
    ran = {s.table.model for s in sections}
    rows = [(_title(s.table.model), f"labelled {int(s.table.assigned.sum()):,} cells") for s in sections]
    rows += [(m.title, validation.models_left_out.get(m.name, "not run")) for m in registry.models() if m.folder not in ran]
    return rows


def colours(labels: list[str]) -> dict[str, str]:
    """A colour per label (Unassigned grey), stable for the same labels."""
    out = {}
    for i, label in enumerate(label for label in labels if label != UNASSIGNED):
        out[label] = PALETTE[i % len(PALETTE)]
    out[UNASSIGNED] = UNASSIGNED_COLOUR
    return out


def bar_chart(counts: dict[str, int], palette: dict[str, str]) -> str:
    """Horizontal bars: cells per cell type."""
    row, label_w, bar_w = 20, 190, 360
    total = sum(counts.values()) or 1
    top = max(counts.values(), default=1) or 1
    parts = []
    for i, (label, n) in enumerate(counts.items()):
        y = i * row
        w = bar_w * n / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_esc(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{palette.get(label, "#888")}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{n:,} ({100 * n / total:.1f}%)</text>'
        )
    height = row * len(counts) + 4
    return f'<svg width="{label_w + bar_w + 110}" height="{height}" role="img" aria-label="cells per cell type">{"".join(parts)}</svg>'


def confidence_plot(table: CellTypeTable, labels: list[str], palette: dict[str, str]) -> str:
    """Per cell type: box (quartiles), whiskers (5th-95th percentile) and median of confidence."""
    row, label_w, plot_w = 20, 190, 360
    parts = [
        f'<line x1="{label_w + plot_w * t}" y1="0" x2="{label_w + plot_w * t}" y2="{row * len(labels)}" stroke="#eee"/>'
        f'<text x="{label_w + plot_w * t}" y="{row * len(labels) + 14}" text-anchor="middle">{t:.2g}</text>'
        for t in (0, 0.25, 0.5, 0.75, 1.0)
    ]
    for i, label in enumerate(labels):
        values = table.confidence[(table.coarse == label) & np.isfinite(table.confidence)]
        y = i * row
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_esc(label)}</text>')
        if not len(values):
            continue
        p5, q1, med, q3, p95 = (label_w + plot_w * v for v in np.percentile(values, [5, 25, 50, 75, 95]))
        colour = palette.get(label, "#888")
        parts.append(
            f'<line x1="{p5:.1f}" y1="{y + 10}" x2="{p95:.1f}" y2="{y + 10}" stroke="#555"/>'
            f'<rect x="{q1:.1f}" y="{y + 3}" width="{max(q3 - q1, 1):.1f}" height="{row - 6}" fill="{colour}" stroke="#555"/>'
            f'<line x1="{med:.1f}" y1="{y + 3}" x2="{med:.1f}" y2="{y + row - 3}" stroke="#000" stroke-width="2"/>'
        )
    height = row * len(labels) + 20
    return f'<svg width="{label_w + plot_w + 20}" height="{height}" role="img" aria-label="confidence per cell type">{"".join(parts)}</svg>'


def scatter(table: CellTypeTable, palette: dict[str, str], size: int = 460) -> str:
    """The model's 2-D projection, coloured by coarse type, at most MAX_POINTS cells."""
    xy = table.projection
    finite = np.flatnonzero(np.isfinite(xy).all(axis=1))
    idx = finite[np.linspace(0, len(finite) - 1, min(MAX_POINTS, len(finite))).astype(int)] if len(finite) else finite
    if not len(idx):
        return "<p>No projection available.</p>"
    pts = xy[idx]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = 8 + (size - 16) * (pts - lo) / span
    labels = table.coarse[idx]
    circles = [
        f'<circle cx="{x:.1f}" cy="{size - y:.1f}" r="2" fill="{palette.get(label, "#888")}"/>'
        for (x, y), label in zip(scaled, labels)
    ]
    note = f"{len(idx):,} of {table.n_cells:,} cells shown" if len(idx) < table.n_cells else f"{len(idx):,} cells"
    return (
        f'<svg width="{size}" height="{size}" role="img" aria-label="projection coloured by cell type" '
        f'style="background:#fff">{"".join(circles)}</svg><p style="font-size:12px;color:#666">{note}</p>'
    )


def legend(palette: dict[str, str], labels: list[str]) -> str:
    """HTML legend of ``labels`` in their colours."""
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{palette[label]}"></i>{_esc(label)}</span>' for label in labels
    ) + "</div>"


def _table(rows: list[tuple]) -> str:
    return "<table>" + "".join("<tr><th>" + _esc(k) + "</th><td>" + _esc(v) + "</td></tr>" for k, v in rows) + "</table>"


def _model_panel(section: ModelSection) -> str:
    table = section.table
    counts = table.counts("coarse")
    labels = list(counts)
    palette = colours(labels)
    assigned = int(table.assigned.sum())
    conf = table.confidence[np.isfinite(table.confidence)]
    metrics = [
        ("Model", table.info.get("model_name", table.model)),
        ("Model version", table.info.get("model_version", "")),
        ("Cells", f"{table.n_cells:,}"),
        ("Cells assigned", f"{assigned:,} ({100 * assigned / max(table.n_cells, 1):.1f}%)"),
        ("Coarse cell types", len([c for c in counts if c != UNASSIGNED])),
        ("Fine cell types", len(set(table.fine[table.assigned]))),
        ("Median confidence", f"{np.median(conf):.3f}" if len(conf) else "n/a"),
    ]
    metrics += [(k.replace("_", " ").capitalize(), v) for k, v in table.info.get("report", {}).items()]
    cards = [
        f'<div class="card"><h2>Summary</h2>{_table(metrics)}</div>',
        f'<div class="card"><h2>Cells per cell type</h2>{bar_chart(counts, palette)}</div>',
        f'<div class="card"><h2>Confidence by cell type</h2>{confidence_plot(table, labels, palette)}</div>',
    ]
    if section.tissue is not None:
        cards.append(f'<div class="card"><h2>Cells in tissue</h2>{tissue_svg(table, section.tissue, palette, MAX_POINTS)}'
                     f'{legend(palette, labels)}</div>')
    if table.projection is not None:
        title = _esc(table.info.get("projection_name", "Projection"))
        cards.append(f'<div class="card"><h2>{title}</h2>{scatter(table, palette)}{legend(palette, labels)}</div>')
    if section.diffexp is not None and section.diffexp.cell_types:
        de = section.diffexp
        rows = "".join(
            f"<tr><td>{_esc(name)}</td><td>{de.n_cells[k]:,}</td><td>{_esc(', '.join(de.top_genes(k)) or '-')}</td></tr>"
            for k, name in enumerate(de.cell_types)
        )
        cards.append(
            '<div class="card"><h2>Top up-regulated genes (Welch t-test, BH-adjusted p &lt; 0.05)</h2>'
            f"<table><tr><th>Cell type</th><th>Cells</th><th>Genes</th></tr>{rows}</table></div>"
        )
    return '<div class="grid">' + "".join(cards) + "</div>"


def _agreement_card(rows: list) -> str:
    if not rows:
        return ""
    body = _table([(f"{_title(a)} and {_title(b)}", f"{share:.0%} of {n:,} cells both labelled" if n else "no cell both labelled")
                   for a, b, n, share in rows])
    return ('<div class="card"><h2>Agreement between models (lineage: T cell, myeloid, neuron, ...)</h2>'
            f"{body}<p>Per cell in the .h5ad: obs['models_agree_on_lineage']. No model's labels are changed.</p></div>")


def render_report(sample_id: str, validation: ValidationReport, sections: list[ModelSection],
                  warnings: list[str] | None = None, agreement: list | None = None) -> str:
    """The whole HTML page as a string; ``warnings`` default to validation's and the models';
    ``agreement`` rows (model, model, cells both labelled, share agreeing) where several models ran."""
    sample_rows = [
        ("Sample", sample_id),
        ("Matrix", validation.matrix),
        ("Cells", f"{validation.n_cells:,}"),
        ("Gene expression features", f"{validation.n_gene_expression_features:,}"),
        ("Species", validation.species),
        ("Matrix kind", validation.matrix_kind),
        ("Median UMI counts per cell", f"{validation.median_counts_per_cell:,.0f}"),
        ("Median genes per cell", f"{validation.median_genes_per_cell:,.0f}"),
        ("Input software", validation.software_version or "unknown"),
        ("cellannotate", __version__),
    ]
    if warnings is None:
        warnings = validation.warnings + [w for s in sections for w in s.table.info.get("warnings", [])]
    warning_html = "".join(f'<div class="warn">{_esc(w)}</div>' for w in warnings) or "<p>None.</p>"
    tab_css, tabs = [], []
    for i, section in enumerate(sections):
        tab_id = f"tab{i}"
        tab_css.append(f"#{tab_id}:checked~#panel{i}{{display:block}}#{tab_id}:checked+label{{background:#fff}}")
        checked = " checked" if i == 0 else ""
        tabs.append(
            f'<input type="radio" name="model" id="{tab_id}"{checked}>'
            f'<label for="{tab_id}">{_esc(_title(section.table.model))}</label>'
        )
    panels = "".join(f'<div class="panel" id="panel{i}">{_model_panel(s)}</div>' for i, s in enumerate(sections))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Cell types: {_esc(sample_id)}</title><style>{CSS}{''.join(tab_css)}</style></head><body>"
        f"<header><h1>Cell types: {_esc(sample_id)}</h1>"
        f"<p>{_esc(', '.join(_title(s.table.model) for s in sections))} · cellannotate {__version__}</p></header><main>"
        f'<div class="card"><h2>Sample</h2>{_table(sample_rows)}</div>'
        f'<div class="card"><h2>Models</h2>{_table(_plan_rows(validation, sections))}</div>'
        f'<div class="card"><h2>Warnings</h2>{warning_html}</div>'
        f"{_agreement_card(agreement or [])}"
        f'<div class="tabs">{"".join(tabs)}{panels}</div>'
        "</main></body></html>\n"
    )
