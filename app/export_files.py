"""Export files people can open: CSV as UTF-8 with a BOM (Excel on Windows then reads Chinese),
XLSX streamed by xlsxwriter in constant memory (dates as dates, a frozen header, sensible widths,
a new sheet every 1,048,575 rows).

Rows are streamed from the database in batches and never held all at once: on SQLite straight
from the DBAPI cursor, on PostgreSQL as ``COPY (<the scoped statement>) TO STDOUT`` for CSV and a
server-side cursor for XLSX. ``progress.add(n)`` is called per batch for the progress bar.

The other files the server hands out, attachments (FAB ``FileColumn`` / ``ImageColumn`` values
such as an agreement's scan), are served here too (``send_attachment``): only when a record the
user may see — their scope, the screen's base filters — holds that very file name; every other
name answers 404, and every download is audited.
"""
import csv
import os
import threading
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter
from flask import abort, current_app, request, send_file
from flask_appbuilder.filemanager import uuid_originalname
from flask_appbuilder.models.mixins import FileColumn, ImageColumn
from flask_babel import gettext as _
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_

from app.audit import record_event
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


# ---- attachments ----------------------------------------------------------------------------
def attachment_columns(model):
    """{column name: folder config key} of a model's file and image columns (FAB's FileColumn
    and ImageColumn), found from the mapping so a column added later is covered too."""
    found = {}
    for attr in sa_inspect(model).column_attrs:
        column_type = attr.columns[0].type
        if isinstance(column_type, ImageColumn):
            found[attr.key] = "IMG_UPLOAD_FOLDER"
        elif isinstance(column_type, FileColumn):
            found[attr.key] = "UPLOAD_FOLDER"
    return found


def plain_file_name(filename):
    """Whether ``filename`` is a bare file name (no folder, no parent, no NUL): what FAB stores."""
    return isinstance(filename, str) and bool(filename) and filename not in (".", "..") \
        and os.path.basename(filename) == filename and "\\" not in filename and "\x00" not in filename \
        and len(filename) <= 500


def _file_in(folder_key, filename):
    """The file's absolute path when it is a plain name inside its upload folder, else None."""
    folder = current_app.config.get(folder_key)
    if not folder or not plain_file_name(filename):
        return None
    folder = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(folder, filename))
    return path if path.startswith(folder + os.sep) and os.path.isfile(path) else None


def find_attachment(datamodel, base_filters, filename):
    """(record, column, path) of the record the user may see (``datamodel`` is a screen's scoped
    datamodel, ``base_filters`` its base filters) whose file column holds exactly ``filename``;
    None for a name no visible record holds, a path trick, or a file missing on disk."""
    model = datamodel.obj
    columns = attachment_columns(model)
    if not columns or not plain_file_name(filename):
        return None
    query = db.session.query(model).filter(or_(*(getattr(model, name) == filename for name in columns)))
    record = datamodel.apply_filters(query, base_filters).first()  # ScopedInterface: the user's scope
    if record is None:
        return None
    for name, folder_key in columns.items():
        if getattr(record, name) == filename:
            path = _file_in(folder_key, filename)
            return (record, name, path) if path else None
    return None


def printable(text, limit=300):
    """``text`` without control characters (PostgreSQL text refuses NUL), cut to ``limit``."""
    return "".join(ch for ch in str(text) if ch.isprintable())[:limit]


def request_summary():
    """How a refusal names the request in the audit log, as the app's 403 entries do."""
    return printable(f"{request.method} {request.path}")


def send_attachment(view, filename):
    """A screen's ``/download/<filename>``: the file to a user who may see its record, audited;
    404 (the refusal audited) for anything else."""
    model = view.datamodel.obj
    found = find_attachment(view.datamodel, view._base_filters, filename)
    if found is None:
        record_event("denied", model.__tablename__, None, summary=request_summary(),
                     details={"reason": "no visible record holds this file", "file": printable(filename, 200)})
        abort(404)
    record, column, path = found
    original = uuid_originalname(filename)
    record_event("download", model.__tablename__, record.id, summary=original,
                 details={"column": column, "file": filename}, area_id=getattr(record, "area_id", None))
    return send_file(path, download_name=original, as_attachment=True, max_age=0)
