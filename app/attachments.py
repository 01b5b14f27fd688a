"""Attachments: the files records hold (FAB ``FileColumn`` / ``ImageColumn`` values such as an
agreement's scan), served by every screen's ``/download/<filename>`` (``send_attachment``): only
when a record the user may see — their scope, the screen's base filters — holds that very file
name; every other name answers 404, and every download and refusal is audited.

``printable`` and ``request_summary`` name a refused download in the audit log (attachments here,
export files in views/export_job.py), as the app's 403 entries do.
"""
import os

from flask import abort, current_app, request, send_file
from flask_appbuilder.filemanager import uuid_originalname
from flask_appbuilder.models.mixins import FileColumn, ImageColumn
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_

from app.core.audit import record_event
from app.extensions import db


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
