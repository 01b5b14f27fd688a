"""Export files people can open: CSV as UTF-8 with a BOM (Excel on Windows then reads Chinese),
XLSX streamed by xlsxwriter in constant memory (dates as dates, a frozen header, sensible widths,
a new sheet every 1,048,575 rows).

Rows are streamed from the database in batches and never held all at once: on SQLite straight
from the DBAPI cursor, on PostgreSQL as ``COPY (<the scoped statement>) TO STDOUT`` for CSV and a
server-side cursor for XLSX. ``progress.add(n)`` is called per batch for the progress bar.
"""
import csv
import threading
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter
from flask_babel import gettext as _

from app.extensions import db

BOM = "\ufeff"
FETCH_ROWS = 5000
XLSX_SHEET_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header row


class Progress:
    """Rows written so far (read by the heartbeat thread while the writer runs)."""

    def __init__(self, total=None):
        self.rows = 0
        self.total = total
        self._lock = threading.Lock()

    def add(self, count):
        with self._lock:
            self.rows += count

    def set(self, done, total=None):
        """The ``progress(done, total)`` callback of writers that count for themselves."""
        with self._lock:
            self.rows = done
            if total is not None:
                self.total = total


# ---- CSV ------------------------------------------------------------------------------------
def write_csv(export, path, progress, notes=()):
    """Write the export as CSV; returns the number of data rows."""
    statement = export.statement()
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(BOM)
        writer = csv.writer(out)
        writer.writerow(export.headers)
        out.flush()
        if export.dialect == "postgresql":
            rows = _copy_csv(statement, out, progress)
        else:
            rows = _cursor_csv(statement, writer, progress)
        if notes:
            writer.writerow([])
            writer.writerows([[label, value] for label, value in notes])
    return rows


def _cursor_csv(statement, writer, progress):
    rows = 0
    for batch in stream_rows(statement):
        writer.writerows(batch)
        rows += len(batch)
        progress.add(len(batch))
    return rows


def compile_statement(statement, dialect):
    """SQL text and parameters for the DBAPI cursor (IN lists expanded in place)."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return compiled.string, dict(compiled.params)


def stream_rows(statement):
    """Batches of plain tuples, straight from the DBAPI cursor: no per-row processing, and on
    PostgreSQL a server-side cursor, so memory stays flat at any size."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            sql, params = compile_statement(statement, connection.dialect)
            raw = connection.connection.dbapi_connection
            with raw.cursor(name="gongjian_export") as cursor:
                cursor.itersize = FETCH_ROWS
                cursor.execute(sql, params)
                while batch := cursor.fetchmany(FETCH_ROWS):
                    yield batch
            connection.rollback()
            return
        # SQLite: SQLAlchemy binds the parameters; the rows are read from its DBAPI cursor
        # (no stream/yield options: those would buffer the first rows inside SQLAlchemy).
        result = connection.execute(statement)
        cursor = result.cursor
        while batch := cursor.fetchmany(FETCH_ROWS):
            yield batch
        result.close()


def _copy_csv(statement, out, progress):
    """PostgreSQL writes the CSV itself: COPY of the compiled, scoped statement."""
    with db.engine.connect() as connection:
        sql, params = compile_statement(statement, connection.dialect)
        raw = connection.connection.dbapi_connection
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for block in copy:
                    text = bytes(block).decode("utf-8")
                    out.write(text)
                    progress.add(text.count("\n"))
            rows = cursor.rowcount
        connection.rollback()
    progress.set(rows)  # a quoted cell may hold a newline: the server's count is the truth
    return rows


# ---- XLSX -----------------------------------------------------------------------------------
def write_xlsx(export, path, progress, notes=(), tmpdir=None, sheet_title=None):
    """Write the export as XLSX; returns the number of data rows."""
    workbook = new_workbook(path, tmpdir)
    rows = write_sheets(workbook, sheet_title or _("Export"), export.headers,
                        [column.kind for column in export.columns], stream_rows(export.statement()), progress)
    if notes:
        write_notes_sheet(workbook, notes)
    workbook.close()
    return rows


def new_workbook(path, tmpdir=None):
    return xlsxwriter.Workbook(path, {
        "constant_memory": True,  # rows go to disk as written: memory stays flat at any size
        "tmpdir": tmpdir,
        "strings_to_numbers": False,  # ID-card numbers stay text
        "strings_to_formulas": False,  # no cell is ever a formula
        "strings_to_urls": False,
    })


def column_width(label, kind):
    if kind == "date":
        return 12
    if kind == "datetime":
        return 20
    if kind == "number":
        return max(10, len(label) * 2 + 2)
    return min(40, max(14, len(label) * 2 + 4))


def write_sheets(workbook, title, headers, kinds, batches, progress, sheet_rows=XLSX_SHEET_ROWS):
    """Write batches of row tuples, continuing on a new sheet every ``sheet_rows`` rows."""
    header_format = workbook.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
    formats = {"date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
               "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})}
    sheets = 0
    row = sheet_rows  # start a sheet at the first row
    total = 0
    for batch in batches:
        for values in batch:
            if row >= sheet_rows:
                sheets += 1
                name = title if sheets == 1 else f"{title} ({sheets})"
                writers = _open_sheet(workbook, name, headers, kinds, header_format, formats)
                row = 0
            row += 1
            for col, value in enumerate(values):
                if value is not None:
                    writers[col](row, col, value)
        total += len(batch)
        progress.add(len(batch))
    if sheets == 0:
        _open_sheet(workbook, title, headers, kinds, header_format, formats)
    return total


def _open_sheet(workbook, name, headers, kinds, header_format, formats):
    sheet = workbook.add_worksheet(name[:31])
    for col, (label, kind) in enumerate(zip(headers, kinds)):
        sheet.set_column(col, col, column_width(label, kind))
    sheet.write_row(0, 0, headers, header_format)
    sheet.freeze_panes(1, 0)
    return [_cell_writer(sheet, kind, formats) for kind in kinds]


def _cell_writer(sheet, kind, formats):
    if kind == "number":
        def write_number(row, col, value):
            if isinstance(value, Decimal):
                value = float(value)
            elif isinstance(value, str):
                return sheet.write_string(row, col, value)
            sheet.write_number(row, col, value)
        return write_number
    if kind in ("date", "datetime"):
        parse = date.fromisoformat if kind == "date" else datetime.fromisoformat
        fmt = formats[kind]

        def write_when(row, col, value):
            if isinstance(value, str):
                try:
                    value = parse(value[:10] if kind == "date" else value)
                except ValueError:
                    return sheet.write_string(row, col, value)
            sheet.write_datetime(row, col, value, fmt)
        return write_when

    def write_text(row, col, value):
        sheet.write_string(row, col, value if type(value) is str else str(value))
    return write_text


def write_notes_sheet(workbook, notes):
    sheet = workbook.add_worksheet(_("About this export")[:31])
    bold = workbook.add_format({"bold": True})
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 1, 80)
    for row, (label, value) in enumerate(notes):
        sheet.write_string(row, 0, str(label), bold)
        sheet.write_string(row, 1, "" if value is None else str(value))
