"""Feedback letters (反馈函, "双向反馈"): for a period, one letter per employer unit telling it how
its in-service Party members did in the community — where and when each checked in, their
service activities and hours in the period, and the grade the community gave them — signed with
the community's name and the date. The employer uses it in the members' annual appraisal.

Letters are built by the same definitions as the statistics reports (app/statistics/definitions.py:
checked in for the period, the service totals, the quota, the evaluation periods) and through the
same scope and parameters as the reports (app/statistics/context.py):
a community admin's letter lists only the members of their community. ID-card and phone numbers
never appear in a letter.

Formats: DOCX (python-docx) and PDF (reportlab, with a TrueType CJK font embedded so Chinese
shows on any machine; config ``PDF_FONT_PATH``). Single letters are downloaded from the report
screen and the unit page; a batch for every unit in scope is one ZIP built by an export job
(``write_letters_zip``).
"""
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date
from typing import List, Optional

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.statistics import definitions as defs
from app.statistics.context import make_context, scoped
from app.statistics.counts import service_totals
from models import MEMBER_CHECKIN_STATUS, Area, Evaluation, GradeOption, MemberCheckin, PartyMember, Unit

FONT_NAME = "GongjianCJK"
FONT_PACKAGE = "fonts-wqy-microhei"
FORMATS = ("docx", "pdf")


class LetterError(RuntimeError):
    """A letter cannot be produced (e.g. no CJK font for the PDF); the message says why."""


@dataclass
class MemberLine:
    name: str
    community: str = ""
    checked_in_on: Optional[date] = None
    checked_in: bool = False
    status: str = ""
    activities: int = 0
    hours: float = 0.0
    grade: str = ""


@dataclass
class Letter:
    unit_id: int
    unit_name: str
    addressee: str
    start: date
    end: date
    issued_on: date
    issuer: str
    quota: str
    lines: List[MemberLine] = field(default_factory=list)

    def file_stem(self):
        safe = re.sub(r'[\\/:*?"<>|\s]+', "_", self.unit_name).strip("_") or f"unit{self.unit_id}"
        return f"{safe}_{_('Feedback letter')}_{self.start:%Y%m%d}-{self.end:%Y%m%d}"


# ------------------------------------------------------------------------------------------------
# Content: one query per kind of fact for all the letters of a batch
# ------------------------------------------------------------------------------------------------


def _units(ctx, unit_ids=None):
    query = select(Unit.id, Unit.name, Unit.party_org_name).order_by(Unit.name)
    if unit_ids is not None:
        query = query.where(Unit.id.in_(unit_ids))
    return db.session.execute(scoped(query, Unit, ctx)).all()


def _members(ctx, unit_ids):
    query = (select(PartyMember.id, PartyMember.name, PartyMember.employer_id, PartyMember.community_id)
             .where(PartyMember.employer_id.in_(unit_ids)).order_by(PartyMember.name, PartyMember.id))
    return db.session.execute(scoped(query, PartyMember, ctx)).all()


def _checkins(ctx, communities):
    """{member id: (community name, date, counts for the period, status for the period)} for
    ``communities`` {member id: the community they live in}: the latest check-in that makes the
    member checked in for the period (definitions.member_is_checked_in), else the latest one."""
    C = MemberCheckin
    query = (select(C.member_id, C.status, C.registered_on, C.confirmed_on, C.valid_until, C.community_id, Area.name)
             .outerjoin(Area, Area.id == C.community_id)
             .where(C.member_id.in_(list(communities))).order_by(C.registered_on, C.id))
    result = {}
    for row in db.session.execute(scoped(query, C, ctx)):
        member_id, status, registered_on, confirmed_on, valid_until, community_id, community = row
        checkin = (status, registered_on, confirmed_on, valid_until, community_id)
        valid = defs.member_is_checked_in(communities[member_id], [checkin], ctx.start, ctx.end)
        previous = result.get(member_id)
        if previous is not None and previous[2] and not valid:
            continue  # keep the check-in that counts over a later one that does not
        if valid:
            label = _("Checked in")
        elif status == "registered":
            label = str(MEMBER_CHECKIN_STATUS.label(status))  # slip in, awaiting confirmation
        else:
            label = _("Not valid in the period")
        result[member_id] = (community or "", confirmed_on or registered_on, valid, label)
    return result


def _service(ctx, member_ids):
    svc = service_totals(ctx)
    rows = db.session.execute(select(svc.c.member_id, svc.c.activities, svc.c.hours)
                              .where(svc.c.member_id.in_(member_ids)))
    return {member_id: (int(n or 0), float(h or 0)) for member_id, n, h in rows}


def _grades(ctx, member_ids):
    """{member id: grade name} for the evaluation period inside the letter's period, preferring
    a year's grade over a quarter's, and the latest quarter."""
    labels = defs.evaluation_periods(ctx.start, ctx.end)
    if not labels:
        return {}
    query = (select(Evaluation.member_id, Evaluation.period, GradeOption.name)
             .join(GradeOption, GradeOption.id == Evaluation.grade_id)
             .where(Evaluation.member_id.in_(member_ids), Evaluation.period.in_(labels)))
    best = {}
    for member_id, period, grade in db.session.execute(scoped(query, Evaluation, ctx)):
        key = (len(period) == 4, period)
        if member_id not in best or key > best[member_id][0]:
            best[member_id] = (key, grade)
    return {member_id: grade for member_id, (_key, grade) in best.items()}


def _issuer(ctx, lines):
    """Who signs: the community of the view when it is one (or lies inside one), else the
    communities the listed members checked in to (for the period, else ever), else the view's area."""
    if ctx.area_path or ctx.scope.area_path:
        path = ctx.area_path or ctx.scope.area_path
        codes = path.strip("/").split("/")
        community = db.session.execute(select(Area.name).where(Area.code.in_(codes), Area.level == "community")
                                       ).scalar()
        if community:
            return community
    names = list(dict.fromkeys(line.community for line in lines if line.checked_in and line.community)) or \
        list(dict.fromkeys(line.community for line in lines if line.community))
    return "、".join(names) or ctx.area_label()


def build_letters(ctx, unit_ids=None, issued_on=None):
    """The letters of every unit in the view (or of ``unit_ids`` among them), in name order."""
    units = _units(ctx, unit_ids)
    if not units:
        return []
    members = _members(ctx, [u.id for u in units])
    member_ids = [m.id for m in members]
    checkins = _checkins(ctx, {m.id: m.community_id for m in members}) if member_ids else {}
    service = _service(ctx, member_ids) if member_ids else {}
    grades = _grades(ctx, member_ids) if member_ids else {}
    by_unit = {}
    for member in members:
        community, day, valid, status = checkins.get(member.id, ("", None, False, _("Not checked in")))
        activities, hours = service.get(member.id, (0, 0.0))
        by_unit.setdefault(member.employer_id, []).append(MemberLine(
            name=member.name, community=community, checked_in_on=day, checked_in=valid, status=status,
            activities=activities, hours=hours, grade=grades.get(member.id, "")))
    quota = ctx.quota.describe() if ctx.quota else _("No service quota is configured")
    letters = []
    for unit in units:
        lines = by_unit.get(unit.id, [])
        letters.append(Letter(unit_id=unit.id, unit_name=unit.name, addressee=unit.party_org_name or unit.name,
                              start=ctx.start, end=ctx.end, issued_on=issued_on or ctx.today,
                              issuer=_issuer(ctx, lines), quota=quota, lines=lines))
    return letters


def letter_for_unit(ctx, unit_id):
    """The letter of one unit in the view, or None when the unit is not in it (answer 404)."""
    letters = build_letters(ctx, [unit_id])
    return letters[0] if letters else None


# ------------------------------------------------------------------------------------------------
# Wording shared by DOCX and PDF
# ------------------------------------------------------------------------------------------------


def _date(day):
    return format_date(day, "long") if day else ""


def headings():
    return [_("No."), _("Name"), _("Checked in to"), _("Check-in date"), _("Check-in status"),
            _("Activities"), _("Service hours"), _("Grade")]


def table_rows(letter):
    return [[str(i), line.name, line.community, line.checked_in_on.isoformat() if line.checked_in_on else "",
             line.status, str(line.activities), f"{line.hours:g}", line.grade or _("Not graded")]
            for i, line in enumerate(letter.lines, start=1)]


def paragraphs(letter):
    """(title, salutation, body paragraphs before the table, paragraphs after it, signature lines)."""
    checked = sum(1 for line in letter.lines if line.checked_in)
    title = _("Feedback letter on in-service Party members' check-in and service in the community")
    salutation = _("To %(org)s:", org=letter.addressee)
    intro = [
        _("Under the double reporting system (two-way check-in, two-way service, two-way feedback), we report "
          "how the in-service Party members of your unit took part in community service from %(start)s to "
          "%(end)s.", start=_date(letter.start), end=_date(letter.end)),
        _("Members of your unit on our record: %(total)s; checked in for the period: %(checked)s. %(quota)s.",
          total=len(letter.lines), checked=checked, quota=letter.quota),
    ]
    if not letter.lines:
        intro.append(_("No in-service Party member of your unit has reported to the community yet."))
    after = [_("Please take this feedback into account in the members' annual appraisal, and encourage those who "
               "have not checked in to report to the community where they live.")]
    signature = [letter.issuer, _date(letter.issued_on)]
    return title, salutation, intro, after, signature


# ------------------------------------------------------------------------------------------------
# DOCX
# ------------------------------------------------------------------------------------------------


def _east_asian(run, font="SimSun"):
    from docx.oxml.ns import qn

    run.font.name = font
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)


def render_docx(letter):
    """The letter as DOCX bytes."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    title, salutation, intro, after, signature = paragraphs(letter)
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(11)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(
        "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia", "SimSun")
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(title)
    run.bold, run.font.size = True, Pt(16)
    _east_asian(run, "SimHei")
    doc.add_paragraph(salutation)
    for text in intro:
        doc.add_paragraph(text).paragraph_format.first_line_indent = Pt(22)
    if letter.lines:
        table = doc.add_table(rows=1, cols=len(headings()))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, headings()):
            cell.text = ""
            cell.paragraphs[0].add_run(text).bold = True
        for values in table_rows(letter):
            for cell, text in zip(table.add_row().cells, values):
                cell.text = text
    for text in after:
        doc.add_paragraph(text).paragraph_format.first_line_indent = Pt(22)
    for text in signature:
        doc.add_paragraph(text).alignment = WD_ALIGN_PARAGRAPH.RIGHT
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------
# PDF
# ------------------------------------------------------------------------------------------------


def pdf_font_path():
    """The configured CJK TrueType font (config PDF_FONT_PATH), or LetterError saying what to
    install."""
    path = current_app.config.get("PDF_FONT_PATH")
    if not path or not os.path.isfile(path):
        raise LetterError(_("No Chinese font for PDF letters was found (%(path)s). Install the %(package)s "
                            "package (apt-get install %(package)s) or set GONGJIAN_PDF_FONT_PATH to a TrueType "
                            "font with Chinese characters.", path=path or "-", package=FONT_PACKAGE))
    return path


def register_pdf_font():
    """Register the CJK font with reportlab once per path; .ttc collections use their first face."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    path = pdf_font_path()
    name = f"{FONT_NAME}-{abs(hash(path)) % 10**8}"
    if name not in pdfmetrics.getRegisteredFontNames():
        try:
            font = TTFont(name, path, subfontIndex=0) if path.lower().endswith(".ttc") else TTFont(name, path)
        except (TTFError, OSError) as exc:
            raise LetterError(_("The font %(path)s cannot be used for PDF letters (%(error)s). Install the "
                                "%(package)s package or set GONGJIAN_PDF_FONT_PATH to a TrueType font.",
                                path=path, error=exc, package=FONT_PACKAGE)) from exc
        pdfmetrics.registerFont(font)
    return name


def render_pdf(letter):
    """The letter as PDF bytes, the CJK font embedded (reportlab subsets TrueType fonts)."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = register_pdf_font()
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=18, wordWrap="CJK", firstLineIndent=22)
    plain = ParagraphStyle("plain", parent=body, firstLineIndent=0)
    cell = ParagraphStyle("cell", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
    title_style = ParagraphStyle("title", fontName=font, fontSize=16, leading=24, alignment=TA_CENTER,
                                 spaceAfter=12)
    right = ParagraphStyle("right", parent=plain, alignment=TA_RIGHT)
    title, salutation, intro, after, signature = paragraphs(letter)
    story = [Paragraph(escape(title), title_style), Paragraph(escape(salutation), plain)]
    story += [Paragraph(escape(text), body) for text in intro]
    if letter.lines:
        data = [[Paragraph(escape(h), cell) for h in headings()]]
        data += [[Paragraph(escape(v), cell) for v in values] for values in table_rows(letter)]
        widths = [10 * mm, 22 * mm, 30 * mm, 22 * mm, 24 * mm, 16 * mm, 18 * mm, 20 * mm]
        table = Table(data, colWidths=widths, repeatRows=1)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#F2F2F2")),
                                   ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
        story += [Spacer(1, 6), table, Spacer(1, 6)]
    story += [Paragraph(escape(text), body) for text in after]
    story += [Spacer(1, 18)] + [Paragraph(escape(text), right) for text in signature]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=f"{title} - {letter.unit_name}", author=letter.issuer,
                      leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm, bottomMargin=20 * mm).build(story)
    return out.getvalue()


def render(letter, fmt):
    if fmt == "docx":
        return render_docx(letter)
    if fmt == "pdf":
        return render_pdf(letter)
    raise ValueError(fmt)


MIMETYPES = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "pdf": "application/pdf"}


# ------------------------------------------------------------------------------------------------
# The batch: one ZIP through the export job machinery
# ------------------------------------------------------------------------------------------------


def write_letters_zip(params, path, progress=None, scope=None):
    """Write the letters of every unit in the acting user's scope (and the chosen area) for
    ``params`` {"start", "end", "area_id"} as one ZIP at ``path``: a DOCX and a PDF per unit.
    Calls ``progress(done, total)`` per letter; returns the number of letters."""
    ctx = make_context(params, scope=scope)
    register_pdf_font()  # fail before any work when the font is missing
    letters = build_letters(ctx)
    total = len(letters)
    if progress is not None:
        progress(0, total)
    used = set()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for done, letter in enumerate(letters, start=1):
            stem = letter.file_stem()
            if stem in used:  # two units whose names sanitise alike
                stem = f"{stem}_{letter.unit_id}"
            used.add(stem)
            archive.writestr(f"{stem}.docx", render_docx(letter))
            archive.writestr(f"{stem}.pdf", render_pdf(letter))
            if progress is not None:
                progress(done, total)
    return total
