"""Bounded previews of a query: text for terminals, escaped HTML for notebooks.

A preview fetches at most ``display.limit + 1`` rows (to know whether there
are more) and the count; blob and object columns show a placeholder, and every
value shown in HTML is escaped.
"""

from __future__ import annotations

import html


PLACEHOLDER = "=BLOB="


def _preview_rows(expr, limit: int):
    names = expr.heading.names
    plain = [n for n in names if not expr.heading[n].is_blob]
    fields = list(dict.fromkeys(expr.primary_key + plain)) or None
    # no order_by: an ordering set by dj.Top is kept, otherwise the rows come in primary-key order
    cursor = expr.cursor(limit=limit + 1, fields=fields)
    rows = cursor.fetchall()
    cursor.close()
    selected = fields or names
    from .fetch import decoder_for

    decoders = [decoder_for(expr, expr.heading[n]) for n in selected]
    decoded = []
    for row in rows[:limit]:
        values = dict(zip(selected, (d(v) if d else v for d, v in zip(decoders, row))))
        decoded.append([values.get(n, PLACEHOLDER) if n in values else _placeholder(expr.heading[n]) for n in names])
    return names, decoded, len(rows) > limit


def _placeholder(attribute) -> str:
    if attribute.is_codec:
        return f"<{attribute.type.name}>"
    return PLACEHOLDER


def _format(value, width: int | None = None) -> str:
    text = "" if value is None else str(value)
    if width and len(text) > width:
        text = text[: max(width - 1, 1)] + "…"
    return text


def repr_text(expr, limit: int | None = None) -> str:
    limit = expr.connection.config["display.limit"] if limit is None else limit
    width = expr.connection.config["display.width"]
    try:
        names, rows, more = _preview_rows(expr, limit)
        total = len(expr)
    except Exception as error:  # a repr must never raise
        return f"<query expression: preview failed: {error}>"
    key = set(expr.primary_key)
    header = ["*" + n if n in key else n for n in names]
    widths = [max(len(h), *(len(_format(r[i], width)) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    widths = [min(w, width) for w in widths]
    lines = ["  ".join(h[:w].ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append("  ".join(_format(v, width).ljust(w) for v, w in zip(row, widths)))
    if more:
        lines.append("   ...")
    lines.append(f" ({total} tuples)")
    return "\n".join(lines)


def repr_html(expr, limit: int | None = None) -> str:
    limit = expr.connection.config["display.limit"] if limit is None else limit
    try:
        names, rows, more = _preview_rows(expr, limit)
        total = len(expr)
    except Exception as error:
        return f"<pre>{html.escape(f'preview failed: {error}')}</pre>"
    key = set(expr.primary_key)
    comment = getattr(expr.heading, "table_comment", "") or ""
    head = "".join(
        f'<th class="{"dj-key" if n in key else "dj-attr"}" title="{html.escape(_attribute_title(expr.heading[n]))}">'
        f'{"<u>" if n in key else ""}{html.escape(n)}{"</u>" if n in key else ""}</th>'
        for n in names)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_format(v, 60))}</td>" for v in row) + "</tr>" for row in rows)
    if more:
        body += "<tr>" + "".join("<td>…</td>" for _ in names) + "</tr>"
    caption = f"<caption>{html.escape(comment)}</caption>" if comment else ""
    style = ("<style>.dj-preview{border-collapse:collapse;font-size:12px}.dj-preview th,.dj-preview td"
             "{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}.dj-preview th.dj-key"
             "{color:#1f5fa8}</style>")
    return (f'{style}<div class="dj-preview-box"><table class="dj-preview">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table><p>Total: {total}</p></div>")


def _attribute_title(attribute) -> str:
    text = attribute.type.text
    if attribute.comment:
        text += " — " + attribute.comment
    return text
