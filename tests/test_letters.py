"""Feedback letters (issue 6, item 6): the content of a unit's letter (check-in, service in the
period, grade, the community and the date, no ID numbers), DOCX read back with python-docx, PDF
text extracted with pypdf with the CJK font embedded, the ZIP of every unit in scope (directly
and through an export job), single downloads from the report screen and the unit page (audited,
404 out of scope), and the clear failure when no Chinese font is installed.

Uses the ``district`` of tests/test_reports.py (figures explained there).
"""
import io
import os
import zipfile

import pytest
from sqlalchemy import select

from app.extensions import db
from app.letters import feedback as letters
from app.statistics.context import make_context
from tests.factories import user
from tests.test_reports import PERIOD, TODAY, YEAR_2025, as_user, district, query  # noqa: F401  (fixture)

pypdf = pytest.importorskip("pypdf")
pytestmark = pytest.mark.today(TODAY)  # the reports' day: PERIOD and the district are dated from it


def letter_of(app, username, unit_id, params=PERIOD):
    return as_user(app, username, lambda: letters.letter_for_unit(make_context(params), unit_id))


def docx_text(content):
    from docx import Document

    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    rows = [[cell.text for cell in row.cells] for table in doc.tables for row in table.rows]
    return "\n".join(parts), rows


def pdf_text_and_fonts(content):
    reader = pypdf.PdfReader(io.BytesIO(content))
    text = "".join(page.extract_text() for page in reader.pages)
    embedded = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptors = [font.get("/FontDescriptor")] + [
                d.get_object().get("/FontDescriptor") for d in font.get("/DescendantFonts", [])]
            for descriptor in descriptors:
                if descriptor is not None and "/FontFile2" in descriptor.get_object():
                    embedded.append(str(font["/BaseFont"]))
    return text, embedded


def test_letter_content(app, district):
    letter = letter_of(app, "orgdept", district["unit3"])
    assert letter.unit_name == "幸福物业服务有限公司" and letter.issuer == "幸福社区"
    lines = {line.name: line for line in letter.lines}
    assert set(lines) == {"王芳", "赵军", "孙燕", "周涛"}
    assert (lines["王芳"].checked_in, lines["王芳"].community, lines["王芳"].activities, lines["王芳"].hours) == (
        True, "幸福社区", 1, 5.0)  # the 10 h outside the period are not counted
    assert (lines["孙燕"].checked_in, lines["孙燕"].activities, lines["孙燕"].hours) == (True, 2, 4.0)
    assert not lines["赵军"].checked_in and not lines["周涛"].checked_in
    graded = letter_of(app, "orgdept", district["unit3"], YEAR_2025)
    assert {line.name: line.grade for line in graded.lines} == {"王芳": "优秀", "孙燕": "合格", "赵军": "", "周涛": ""}


def test_letter_follows_the_scope(app, district):
    assert letter_of(app, "community2", district["unit3"]) is None
    assert letter_of(app, "community1", district["unit3"]) is not None
    # The power company's members live in 和平社区: the community2 letter lists them; none is checked in
    # but 郑洁 (吴刚's check-in lapsed before the period).
    power = letter_of(app, "community2", district["unit2"])
    assert power.issuer == "和平社区"
    assert {(l.name, l.checked_in) for l in power.lines} == {("李明", False), ("吴刚", False), ("郑洁", True)}


def test_docx_reads_back(app, district):
    letter = letter_of(app, "orgdept", district["unit3"], YEAR_2025)
    with app.test_request_context():
        text, rows = docx_text(letters.render_docx(letter))
        headings = letters.headings()
    assert "幸福物业服务有限公司" in text and "幸福社区" in text
    assert rows[0] == headings and len(rows) == 5
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["王芳"][7] == "优秀" and by_name["王芳"][2] == "幸福社区"
    for id_card in district["id_cards"]:
        assert id_card not in text and all(id_card not in cell for row in rows for cell in row)


def test_pdf_has_the_chinese_text_and_the_font_embedded(app, district):
    letter = letter_of(app, "orgdept", district["unit3"])
    with app.test_request_context():
        content = letters.render_pdf(letter)
    assert content.startswith(b"%PDF")
    text, embedded = pdf_text_and_fonts(content)
    assert "幸福物业服务有限公司" in text and "王芳" in text and "幸福社区" in text
    assert embedded, "the CJK font must be embedded"
    for id_card in district["id_cards"]:
        assert id_card not in text


def test_zip_holds_a_docx_and_a_pdf_per_unit_in_scope(app, district, tmp_path):
    calls = []
    path = tmp_path / "letters.zip"
    count = as_user(app, "community1", letters.write_letters_zip, PERIOD, str(path),
                    lambda done, total: calls.append((done, total)))
    names = zipfile.ZipFile(path).namelist()
    assert count == 3 and calls[-1] == (3, 3) and len(names) == 6
    units = {"幸福物业服务有限公司", "天山区市场监督管理局", "幸福农商银行"}
    assert {n.split("_")[0] for n in names} == units
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["docx"] * 3 + ["pdf"] * 3
    pdf = next(n for n in names if n.startswith("幸福物业") and n.endswith(".pdf"))
    assert "王芳" in pdf_text_and_fonts(zipfile.ZipFile(path).read(pdf))[0]
    assert as_user(app, "orgdept", letters.write_letters_zip, PERIOD, str(tmp_path / "all.zip"), None) == 5


def test_letters_job_through_request_export(app, district):
    from app.core.actor import acting_as
    from app.exports.requests import request_export
    from models import ExportJob

    with app.test_request_context():
        requester = user(app, "community2")
        with acting_as(requester, via="web"):
            job = request_export(requester, kind="letters", resource="feedback_letter", fmt="zip", params=PERIOD)
        job = db.session.get(ExportJob, job.id)
        assert job.state == "done", job.error
        assert job.row_count == 2
        archive = zipfile.ZipFile(os.path.join(app.config["DATA_DIR"], job.file_path))
        assert {n.split("_")[0] for n in archive.namelist()} == {"和平供电公司", "和平中学"}


def test_missing_font_fails_the_job_with_a_clear_message(app, district, monkeypatch, tmp_path, browser):
    from app.core.actor import acting_as
    from app.exports.requests import request_export
    from models import ExportJob

    monkeypatch.setitem(app.config, "PDF_FONT_PATH", str(tmp_path / "missing.ttc"))
    with pytest.raises(letters.LetterError) as failed:
        as_user(app, "orgdept", letters.write_letters_zip, PERIOD, str(tmp_path / "x.zip"), None)
    assert letters.FONT_PACKAGE in str(failed.value)
    with app.test_request_context():
        requester = user(app, "orgdept")
        with acting_as(requester, via="web"):
            job = request_export(requester, kind="letters", resource="feedback_letter", fmt="zip", params=PERIOD)
        job = db.session.get(ExportJob, job.id)
        assert job.state == "failed" and letters.FONT_PACKAGE in (job.error or "") and not job.file_path
    page = browser("orgdept").get(f"/reports/letter/{district['unit3']}?fmt=pdf")
    assert page.status_code == 503 and letters.FONT_PACKAGE in page.get_data(as_text=True)
    assert browser("orgdept").get(f"/reports/letter/{district['unit3']}?fmt=docx").status_code == 200


def test_single_downloads_are_audited_and_scoped(app, district, browser):
    from models import AuditLog

    client = browser("community1")
    response = client.get(f"/reports/letter/{district['unit3']}?fmt=pdf&{query(PERIOD)}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    docx = client.get(f"/reports/letter/{district['unit3']}?fmt=docx&{query(PERIOD)}")
    assert docx.status_code == 200 and docx.data[:2] == b"PK"
    with app.app_context():
        entries = db.session.execute(select(AuditLog).where(
            AuditLog.action == "download", AuditLog.record_type == "unit",
            AuditLog.record_id == str(district["unit3"]))).scalars().all()
        assert len(entries) == 2 and {e.summary.rsplit(".", 1)[1] for e in entries} == {"pdf", "docx"}
    assert client.get(f"/reports/letter/{district['unit4']}?fmt=pdf").status_code == 404  # 和平中学: not theirs
    assert client.get("/reports/letter/987654?fmt=pdf").status_code == 404
    assert client.get(f"/reports/letter/{district['unit3']}?fmt=xls").status_code == 400


def test_unit_page_and_report_screen_link_the_letters(app, district, browser):
    html = browser("orgdept").get(f"/unitview/show/{district['unit3']}").get_data(as_text=True)
    assert f"/reports/letter/{district['unit3']}" in html and 'value="pdf"' in html
    html = browser("security").get(f"/unitview/show/{district['unit3']}").get_data(as_text=True)
    assert "/reports/letter/" not in html  # the security admin reads units but not reports


def test_batch_letters_button_starts_a_job(app, district, browser):
    from models import ExportJob

    client = browser("street1")
    response = client.post("/reports/letters", data=PERIOD, with_token_from="/reports/")
    assert response.status_code == 302 and "/exportjobview/list" in response.headers["Location"]
    with app.app_context():
        job = db.session.execute(select(ExportJob).order_by(ExportJob.id.desc())).scalars().first()
        assert (job.kind, job.resource, job.format, job.state) == ("letters", "feedback_letter", "zip", "done")
        assert job.row_count == 3
    assert client.post("/reports/letters", data=PERIOD).status_code == 400  # no CSRF token
