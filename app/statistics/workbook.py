"""The formatted XLSX of the statistics reports (导出 XLSX): one report, or every report on a sheet
of its own (``"all"``), each with its title, the subtitle of the period, area, threshold and
quota, a red header row, frozen panes, an autofilter, percentages as numbers formatted 0.00% and
the rows under the threshold in red. Run by the export job runner (app/exports/running.py).
"""
from datetime import datetime

import xlsxwriter
from flask_babel import gettext as _

from app.statistics.catalogue import ALL, REPORTS, compute, get_report, subtitle
from app.statistics.context import make_context


def _sheet_name(text, used):
    name = "".join("_" if ch in "[]:*?/\\" else ch for ch in str(text))[:31] or "Sheet"
    base, n = name, 2
    while name in used:
        name = f"{base[:28]}({n})"
        n += 1
    used.add(name)
    return name


class _Formats:
    def __init__(self, book):
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.subtitle = book.add_format({"italic": True, "font_color": "#555555"})
        self.header = book.add_format({"bold": True, "bg_color": "#C00000", "font_color": "#FFFFFF", "border": 1,
                                       "text_wrap": True, "valign": "vcenter", "align": "center"})
        self.cells = {}
        self.book = book

    def cell(self, kind, flagged=False, strong=False):
        key = (kind, flagged, strong)
        if key not in self.cells:
            spec = {"border": 1}
            if kind == "percent":
                spec["num_format"] = "0.00%"
            elif kind == "date":
                spec["num_format"] = "yyyy-mm-dd"
            elif kind in ("int", "rank"):
                spec["num_format"] = "0"
            if flagged:
                spec.update({"bg_color": "#FFC7CE", "font_color": "#9C0006"})
            if strong:
                spec.update({"bold": True, "bg_color": spec.get("bg_color", "#F2F2F2")})
            self.cells[key] = self.book.add_format(spec)
        return self.cells[key]


WIDTHS = {"text": 18, "int": 10, "percent": 11, "rank": 7, "flag": 10, "date": 12}
WIDE = {"unit": 30, "meeting": 40, "checked_in_to": 28, "community": 18, "street": 16}


def _write_sheet(book, formats, report, ctx, rows, sheet_names, progress_step):
    sheet = book.add_worksheet(_sheet_name(report.sheet, sheet_names))
    columns = report.columns
    sheet.merge_range(0, 0, 0, max(1, len(columns) - 1), str(report.title), formats.title)
    sheet.write(1, 0, subtitle(ctx), formats.subtitle)
    if report.description:
        sheet.write(2, 0, str(report.description), formats.subtitle)
    header_row = 3
    sheet.set_row(header_row, 32)
    for c, col in enumerate(columns):
        sheet.write(header_row, c, str(col.label), formats.header)
        sheet.set_column(c, c, max(WIDE.get(col.key, WIDTHS[col.kind]), len(str(col.label)) * 2 + 2))
    sheet.freeze_panes(header_row + 1, 0)
    for r, row in enumerate(rows, start=header_row + 1):
        flagged = bool(row.get("flagged"))
        strong = row.get("_level") in ("street", "total")
        for c, col in enumerate(columns):
            value = row.get(col.key)
            fmt = formats.cell(col.kind, flagged, strong)
            if value is None:
                sheet.write_blank(r, c, None, fmt)
            elif col.kind == "flag":
                sheet.write_string(r, c, _("Below") if value else "", fmt)
            elif col.kind == "date":
                sheet.write_datetime(r, c, datetime.combine(value, datetime.min.time()), fmt)
            elif col.kind in ("int", "rank", "percent"):
                sheet.write_number(r, c, value, fmt)
            else:
                sheet.write_string(r, c, str(value), fmt)  # text stays text (no formula, no number)
        progress_step()
    if rows:
        sheet.autofilter(header_row, 0, header_row + len(rows), len(columns) - 1)
    return len(rows)


def write_report_xlsx(name, params, path, progress=None, scope=None):
    """Write report ``name`` (or ``"all"``: one sheet per report) as a formatted XLSX at ``path``
    for ``params`` {"start", "end", "area_id"}, under the acting user's scope; calls
    ``progress(done, total)`` as rows are written. Returns the number of data rows written."""
    ctx = make_context(params, scope=scope)
    names = list(REPORTS) if name == ALL else [get_report(name).name]
    computed = [(REPORTS[n], compute(n, ctx)) for n in names]
    total = sum(len(rows) for _r, rows in computed)
    done = [0]

    def step():
        done[0] += 1
        if progress is not None and (done[0] % 200 == 0 or done[0] == total):
            progress(done[0], total)

    if progress is not None:
        progress(0, total)
    book = xlsxwriter.Workbook(path, {"strings_to_numbers": False, "strings_to_formulas": False,
                                      "strings_to_urls": False})
    try:
        formats, sheet_names = _Formats(book), set()
        written = sum(_write_sheet(book, formats, report, ctx, rows, sheet_names, step) for report, rows in computed)
    finally:
        book.close()
    return written
