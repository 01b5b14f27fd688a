"""A real browser against a real server: a community admin adds a Party member in the Chinese UI,
is told next to the field that the ID-card number is wrong, fixes it, and sees the member listed
with the number masked.

Headless Debian Chromium (/usr/bin/chromium) driven by Playwright; never `playwright install`.
Missing Chromium → skip, or fail with GONGJIAN_REQUIRE_SERVICES=1. Screenshots of every step go
to $GONGJIAN_SCREENSHOT_DIR (default /tmp/gongjian-browser).
"""
import os
import re
import threading
from pathlib import Path

import pytest
from conftest import service_unavailable

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PROJECT_DIR = Path(__file__).resolve().parent.parent
ZH_CATALOGUE = PROJECT_DIR / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
SCREENSHOTS = Path(os.environ.get("GONGJIAN_SCREENSHOT_DIR", "/tmp/gongjian-browser"))
PASSWORD = "Test-Passw0rd!"
CJK = re.compile(r"[\u4e00-\u9fff]")
CHECK_DIGIT_MSGID = "Invalid ID-card number: the check digit does not match"
MEMBERS_MSGID = "In-service Party members"


def zh(msgid):
    """The catalogue's Chinese for ``msgid``, or None while it is not translated (yet)."""
    if not ZH_CATALOGUE.exists():
        return None
    from babel.messages.pofile import read_po

    with open(ZH_CATALOGUE, "rb") as handle:
        message = read_po(handle, locale="zh").get(msgid)
    if message is None or not message.string or message.fuzzy:
        return None
    return message.string


def build_district(app):
    """District → street → 幸福社区 → grid, a unit there, and community1 scoped to 幸福社区."""
    from app.core.actor import acting_as
    from app.extensions import db
    from models import Area, Unit, UserScope

    with app.app_context(), acting_as(None, via="test"):
        district = Area(name="天山区", level="district", code="650102")
        street = Area(name="幸福街道", level="street", code="650102001", parent=district)
        community = Area(name="幸福社区", level="community", code="650102001001", parent=street)
        grid = Area(name="幸福社区第一网格", level="grid", code="650102001001001", parent=community)
        unit = Unit(name="天山区市场监督管理局", unit_type="organ", area=community, member_count=12)
        db.session.add_all([district, street, community, grid, unit])
        db.session.flush()
        sm = app.appbuilder.sm
        user = sm.add_user("community1", "社区管理员", "community1", "community1@example.cn",
                           sm.find_role("CommunityAdmin"), PASSWORD)
        assert user, "could not create community1"
        db.session.add(UserScope(user=user, area=community))
        db.session.commit()


def member_count(app):
    from sqlalchemy import func, select

    from app.extensions import db
    from models import PartyMember

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PartyMember))


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The real app (migrated by the real `gongjian init`) served by werkzeug on a free port."""
    if not os.access(CHROMIUM, os.X_OK):
        service_unavailable(f"Chromium ({CHROMIUM})")
    from werkzeug.serving import make_server

    from app import create_app
    from config import engine_options

    data_dir = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{data_dir}/gongjian.sqlite"
    app = create_app({
        "GONGJIAN_ENV": "testing",
        "DATA_DIR": str(data_dir),
        "UPLOAD_FOLDER": str(data_dir / "uploads"),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        "WTF_CSRF_ENABLED": True,
        "CELERY_ALWAYS_EAGER": True,
        "CELERY_BROKER_URL": f"sqla+sqlite:///{data_dir}/celery-broker.sqlite",
        "CELERY_RESULT_BACKEND": f"db+sqlite:///{data_dir}/celery-results.sqlite",
    })
    result = app.test_cli_runner().invoke(args=["gongjian", "init"])
    assert result.exit_code == 0, (result.output, result.exception)
    build_district(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.set_default_timeout(15000)
        yield context.new_page()
        context.close()
        browser.close()


def shot(page, name):
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def choose(page, field, label):
    """Pick an option the way a user does: open the Select2 box of ``field`` and click the label."""
    page.click(f"select#{field} + .select2-container")
    page.locator(".select2-results__option", has_text=label).first.click()
    assert page.locator(f"select#{field} option:checked").inner_text().strip() == label


def test_community_admin_adds_a_member_in_chinese(live_server, page):
    from app.demo.fakedata import FakeData

    app, base = live_server
    members_before = member_count(app)  # the live server's other tests may have added some
    good_id = FakeData(seed=2026).id_card(region="650102")
    bad_id = good_id[:-1] + ("1" if good_id[-1] == "0" else "0")  # right format, wrong check digit
    masked_id = good_id[:6] + "********" + good_id[-4:]

    # Log in: the UI is Chinese by default (no language chosen, no Accept-Language needed).
    page.goto(base + "/login/")
    assert "登录" in page.inner_text("body")
    page.fill("#username", "community1")
    page.fill("#password", PASSWORD)
    shot(page, "01-login")
    page.locator("form [type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.content()
    shot(page, "02-home")

    # The member list, through the menu.
    link = page.locator('a[href="/partymemberview/list/"]').first
    menu_label = zh(MEMBERS_MSGID)
    if menu_label:
        assert link.inner_text().strip() == menu_label
    page.locator("li.dropdown", has=link).locator("a.dropdown-toggle").click()
    link.click()
    page.wait_for_url(re.compile(r"/partymemberview/list/"))
    shot(page, "03-list")

    # Add, with a number whose check digit is wrong.
    page.locator('a[href^="/partymemberview/add"]').first.click()
    page.wait_for_url(re.compile(r"/partymemberview/add"))
    page.fill("#name", "王芳")
    choose(page, "gender", page.locator("select#gender option[value=female]").inner_text().strip())
    page.fill("#id_card", bad_id)
    page.fill("#phone", "13812345678")
    choose(page, "employer", "天山区市场监督管理局")
    choose(page, "area", "幸福社区第一网格")
    page.fill("#skills", "法律咨询")
    shot(page, "04-form")
    page.locator("#model_form [type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    shot(page, "05-bad-id-card")

    error = page.locator("#id_card").locator("xpath=ancestor::td[1]").locator(".alert-danger")
    assert error.count() == 1, page.content()
    message = error.inner_text().strip()
    assert CJK.search(message), f"the error next to the ID-card field is not in Chinese: {message!r}"
    expected = zh(CHECK_DIGIT_MSGID)
    if expected:
        assert message == expected
    assert page.input_value("#id_card") == bad_id  # what the user typed is kept
    assert page.input_value("#name") == "王芳"
    assert member_count(app) == members_before  # nothing was saved

    # Fix the number: saved, listed, masked.
    page.fill("#id_card", good_id)
    page.locator("#model_form [type=submit]").first.click()
    page.wait_for_url(re.compile(r"/partymemberview/list/"))
    page.wait_for_load_state("networkidle")
    shot(page, "06-listed")
    assert member_count(app) == members_before + 1
    row = page.locator("table tr", has_text="王芳")
    assert row.count() == 1, page.content()
    assert masked_id in row.inner_text()
    assert good_id not in page.content()  # the full number never reaches the list page


def test_export_button_progress_bar_and_download(live_server, page, monkeypatch):
    """The 导出 button of a list starts a job; 我的导出 shows its progress bar, which the page's
    script moves when the job runs, then the download link; the file is the masked list."""
    import app.exports.running as exports
    from app.core.actor import acting_as
    from app.demo.fakedata import FakeData
    from app.extensions import db
    from models import Area, ExportJob, PartyMember

    app, base = live_server
    id_card = FakeData(seed=77).id_card(region="650102")
    with app.app_context(), acting_as(None, via="test"):
        grid = db.session.query(Area).filter_by(name="幸福社区第一网格").one()
        db.session.add(PartyMember(name="赵敏", gender="female", id_card=id_card, phone="13900001111", area=grid))
        db.session.commit()
    queued = []
    monkeypatch.setattr(exports, "queue_job", lambda job: queued.append(job.id))  # no worker yet

    page.goto(base + "/login/")
    page.fill("#username", "community1")
    page.fill("#password", PASSWORD)
    page.locator("form [type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    page.goto(base + "/partymemberview/list/")
    page.locator("button.gj-export-csv").click()
    page.wait_for_url(re.compile(r"/exportjobview/list/"))
    bar = page.locator(".gj-export-progress .progress-bar").first
    assert bar.inner_text().strip() == "0%"
    shot(page, "07-export-pending")

    assert len(queued) == 1
    with app.app_context():
        exports.run_job(queued[0])  # what the worker does
        assert db.session.get(ExportJob, queued[0]).state == "done"
    link = page.locator("a[href^='/exportjobview/download/']")
    link.wait_for(timeout=15000)  # the script saw the job finish and reloaded the page
    assert page.locator(".gj-export-progress .progress-bar").first.inner_text().strip() == "100%"
    shot(page, "08-export-done")
    with page.expect_download() as download_info:
        link.first.click()
    content = Path(download_info.value.path()).read_bytes().decode("utf-8")
    assert content.startswith("\ufeff")
    assert "赵敏" in content and id_card[:6] + "********" + id_card[-4:] in content
    assert id_card not in content
