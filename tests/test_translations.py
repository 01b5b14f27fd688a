"""Translations: Chinese (the default language) is complete, matches the code, keeps every
placeholder, and covers the Flask-AppBuilder words that FAB's own Chinese catalogue lacks.

When a test here fails after you added or changed a user-visible string, run from the repo root:

    .venv/bin/pybabel extract -F translations/babel.cfg -k _l -k lazy_gettext -k _ -k gettext \\
        -o translations/messages.pot .
    .venv/bin/pybabel update -i translations/messages.pot -d translations --ignore-obsolete
    # then give every new or fuzzy entry of translations/zh/LC_MESSAGES/messages.po its Chinese
    # (and remove the "#, fuzzy" line), and run `python -m app.i18n`.
"""
import os
import re
import shutil
from pathlib import Path

import flask_appbuilder
import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from app.i18n import FAB_MSGIDS, ensure_compiled

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
BABEL_CFG = TRANSLATIONS / "babel.cfg"
POT = TRANSLATIONS / "messages.pot"
ZH_PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = ["_l", "lazy_gettext", "_", "gettext"]
FAB_DIR = Path(flask_appbuilder.__file__).resolve().parent
FAB_ZH_PO = FAB_DIR / "translations" / "zh" / "LC_MESSAGES" / "messages.po"

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# %(name)s, %(count)d, %s, %d … and str.format's {name}; "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\([^)]+\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"
                         r"|\{[A-Za-z_][\w.]*(?:![rsa])?(?::[^{}]*)?\}")

# Words of FAB's standard screens (list, show, add, edit, search, login, user info, security,
# pagination, delete confirmation) that must never appear in English under zh.
CORE_FAB_MSGIDS = [
    "Add", "Edit", "Show", "Delete", "Search", "Detail", "Save", "Back", "Actions", "Record Count",
    "Page size", "Order by", "Add Filter", "Added Row", "Changed Row", "Deleted Row", "No records found",
    "Are you sure you want to delete this item?", "User confirmation needed", "Add a new record",
    "Edit record", "Show record", "Delete record", "Select Value", "Not a valid choice",
    "Equal to", "Not Equal to", "Starts with", "Ends with", "Contains", "Not Contains", "Greater than",
    "Smaller than", "Relation", "No Relation", "In", "Not In",
    "Login", "Logout", "Sign In", "Username", "Password", "Enter your login and password below",
    "Invalid login. Please try again.", "Access is Denied", "User info", "Profile", "Reset Password",
    "Reset my password", "Your user information", "Edit User Information", "Security", "List Users",
    "List Roles", "Show User", "Add User", "Edit User", "Show Role", "Add Role", "Edit Role",
    "First Name", "Last Name", "Email", "Role", "Permissions", "Is Active?", "Last login",
    "Login count", "Failed login count", "Created on", "Changed on", "Database Error",
    "Integrity error, probably unique constraint", "Associated data exists, please delete them first",
]


def load_po(path):
    with open(path, "rb") as f:
        return read_po(f)


def msgids(catalog):
    return {m.id for m in catalog if m.id}


def extract(tmp_path, mapping, directory, keywords, name="extracted.pot"):
    """Run `pybabel extract` in-process into a temporary .pot and read it back."""
    out = tmp_path / name
    args = ["pybabel", "-q", "extract", "-F", str(mapping), "-o", str(out)]
    for keyword in keywords:
        args += ["-k", keyword]
    CommandLineInterface().run(args + [str(directory)])
    return load_po(out)


def placeholders(text):
    return sorted(PLACEHOLDER.findall(text.replace("%%", "")))


def plain_id(message):
    """The singular msgid (a plural entry's id is a tuple)."""
    return message.id[0] if isinstance(message.id, (tuple, list)) else message.id


# --- the catalogues as files ------------------------------------------------------------------


def test_zh_catalogue_has_no_untranslated_or_fuzzy_entries():
    catalog = load_po(ZH_PO)
    assert len(msgids(catalog)) > 100
    missing = [plain_id(m) for m in catalog if m.id and not all(
        s.strip() for s in (m.string if isinstance(m.string, (tuple, list)) else [m.string]))]
    fuzzy = [plain_id(m) for m in catalog if m.id and m.fuzzy]
    assert not missing, f"untranslated zh entries: {missing}"
    assert not fuzzy, f"fuzzy zh entries (check the Chinese, then remove the fuzzy flag): {fuzzy}"


def test_zh_translations_are_chinese():
    catalog = load_po(ZH_PO)
    not_chinese = [m.id for m in catalog if m.id and isinstance(m.string, str) and not CJK.search(m.string)]
    assert not not_chinese, f"zh entries whose translation has no Chinese character: {not_chinese}"


def test_catalogues_match_the_code(tmp_path):
    """Every string the code marks for translation is in the .pot and has zh Chinese; a developer
    who adds a string without translating it breaks this test."""
    extracted = msgids(extract(tmp_path, BABEL_CFG, ROOT, KEYWORDS))
    assert "In-service Party members" in extracted and "Add" in extracted  # extraction works
    zh = load_po(ZH_PO)
    not_in_zh = sorted(extracted - msgids(zh))
    assert not not_in_zh, f"strings in the code missing from zh messages.po (see module doc): {not_in_zh}"
    untranslated = sorted(m.id for m in zh if m.id in extracted and (not m.string or m.fuzzy))
    assert not untranslated, f"strings in the code without Chinese: {untranslated}"
    pot = msgids(load_po(POT))
    assert extracted == pot, (
        "translations/messages.pot is out of date; re-run the extraction (see module doc). "
        f"New: {sorted(extracted - pot)}; gone: {sorted(pot - extracted)}")
    not_in_en = sorted(extracted - msgids(load_po(EN_PO)))
    assert not not_in_en, f"strings missing from en messages.po (run pybabel update): {not_in_en}"


@pytest.mark.parametrize("po_path", [ZH_PO, EN_PO], ids=["zh", "en"])
def test_placeholders_match(po_path):
    catalog = load_po(po_path)
    wrong = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else [message.id]
        strings = message.string if isinstance(message.string, (tuple, list)) else [message.string]
        expected = placeholders(ids[0])
        for string in strings:
            if placeholders(string) != expected:
                wrong.append((ids[0], string))
    assert not wrong, f"placeholders differ between msgid and msgstr: {wrong}"


def test_every_fab_word_has_chinese(tmp_path):
    """Re-extract FAB's own strings (templates and Python): each must have a non-fuzzy Chinese
    translation in FAB's zh catalogue or in ours. Catches new words after a FAB upgrade."""
    mapping = tmp_path / "fab_babel.cfg"
    mapping.write_text("[python: **.py]\n[jinja2: templates/**.html]\nencoding = utf-8\n", encoding="utf-8")
    fab_ids = msgids(extract(tmp_path, mapping, FAB_DIR, ["_", "gettext", "lazy_gettext", "lazy_formatter_gettext"],
                             name="fab.pot"))
    assert {"Add", "Search", "Record Count", "List Users"} <= fab_ids  # extraction works
    fab_zh = {m.id: m for m in load_po(FAB_ZH_PO) if m.id}
    ours = {m.id: m for m in load_po(ZH_PO) if m.id}

    def translated(catalog, msgid):
        message = catalog.get(msgid)
        return message is not None and bool(message.string) and not message.fuzzy

    uncovered = sorted(i for i in fab_ids if not translated(ours, i) and not translated(fab_zh, i))
    assert not uncovered, f"FAB words with no Chinese anywhere; add them to app/i18n.py FAB_MSGIDS: {uncovered}"


def test_fab_supplement_list_is_in_the_catalogue():
    ours = msgids(load_po(ZH_PO))
    assert set(FAB_MSGIDS) <= ours
    assert len(FAB_MSGIDS) == len(set(FAB_MSGIDS)), "duplicates in FAB_MSGIDS"


# --- compiling ---------------------------------------------------------------------------------


def test_ensure_compiled_builds_missing_and_stale_catalogues(tmp_path):
    copy = tmp_path / "translations"
    for locale in ("zh", "en"):
        (copy / locale / "LC_MESSAGES").mkdir(parents=True)
        shutil.copy(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", copy / locale / "LC_MESSAGES")
    written = ensure_compiled(copy)
    assert sorted(Path(p).relative_to(copy).as_posix() for p in written) == [
        "en/LC_MESSAGES/messages.mo", "zh/LC_MESSAGES/messages.mo"]
    assert ensure_compiled(copy) == []  # up to date: nothing to do
    assert not [p for p in copy.rglob("*") if p.name.endswith(".tmp")]  # no temporary file left

    zh_po, zh_mo = copy / "zh/LC_MESSAGES/messages.po", copy / "zh/LC_MESSAGES/messages.mo"
    # The .po was edited after the .mo was built: 5 s after the .mo's own time on the file
    # system, whose clock a travelling test clock does not move.
    later = zh_mo.stat().st_mtime + 5
    os.utime(zh_po, (later, later))
    assert ensure_compiled(copy) == [str(zh_mo)]

    from babel.support import Translations

    translations = Translations.load(str(copy), ["zh"])
    assert translations.gettext("In-service Party members") == "在职党员"
    assert translations.gettext("Add") == "新增"


def test_ensure_compiled_skips_a_broken_catalogue(tmp_path):
    """A catalogue that cannot be read is skipped (no .mo, no temporary file left, no exception);
    the good catalogue beside it is still compiled."""
    broken = tmp_path / "xx" / "LC_MESSAGES"
    broken.mkdir(parents=True)
    # Declared UTF-8, but the translation is not: babel cannot decode it.
    (broken / "messages.po").write_bytes(b'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                                         b'msgid "a"\nmsgstr "\xff\xfe"\n')
    good = tmp_path / "zh" / "LC_MESSAGES"
    good.mkdir(parents=True)
    shutil.copy(ZH_PO, good)
    assert ensure_compiled(tmp_path) == [str(good / "messages.mo")]
    assert sorted(p.name for p in broken.iterdir()) == ["messages.po"]


def test_ensure_compiled_ignores_a_missing_directory(tmp_path):
    assert ensure_compiled(tmp_path / "nowhere") == []


def test_main_compiles(tmp_path, capsys):
    from app.i18n import main

    (tmp_path / "zh" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(ZH_PO, tmp_path / "zh" / "LC_MESSAGES")
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "zh" / "LC_MESSAGES" / "messages.mo").is_file()
    assert "compiled" in capsys.readouterr().out


# --- the running app ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("i18n")
    ensure_compiled(TRANSLATIONS)  # create_app does this too; a fresh clone has no .mo files
    from app import create_app

    return create_app({
        "TESTING": True,
        "GONGJIAN_DATA_DIR": str(tmp_path),
        "DATA_DIR": str(tmp_path),
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "t.sqlite"),
    })


def test_chinese_is_the_default_language(app):
    import flask_babel

    with app.test_request_context():
        assert str(flask_babel.get_locale()) == "zh"
        assert flask_babel.gettext("Co-building agreements") == "共建协议"


def test_fab_core_words_are_chinese_in_the_app(app):
    import flask_babel

    with app.test_request_context(), flask_babel.force_locale("zh"):
        english = [m for m in CORE_FAB_MSGIDS if not CJK.search(flask_babel.gettext(m))]
    assert not english, f"FAB words still English under zh: {english}"


def test_all_fab_supplement_and_our_words_are_chinese_in_the_app(app):
    import flask_babel

    ours = [m.id for m in load_po(ZH_PO) if m.id and isinstance(m.id, str)]
    with app.test_request_context(), flask_babel.force_locale("zh"):
        english = [m for m in ours if not CJK.search(flask_babel.gettext(m))]
        assert str(flask_babel.lazy_gettext("Welcome, %(name)s", name="张三")) == "欢迎您，张三"
        assert flask_babel.gettext("Deleted %(count)d records", count=3) == "已删除3条记录"
    assert not english, f"entries that do not come out Chinese at run time: {english}"


def test_our_words_override_fab_translations(app):
    import flask_babel

    with app.test_request_context(), flask_babel.force_locale("zh"):
        assert flask_babel.gettext("Logout") == "退出登录"  # FAB says 注销 (reads as "close the account")
        assert flask_babel.gettext("Starts with") == "开头是"  # FAB says 以开始
        assert flask_babel.gettext("Security") == "账号与权限"


def test_english_still_works(app):
    import flask_babel

    with app.test_request_context(), flask_babel.force_locale("en"):
        for msgid in ("In-service Party members", "Add", "Record Count", "Logout", "Resolutions"):
            assert flask_babel.gettext(msgid) == msgid
        assert flask_babel.gettext("Welcome, %(name)s", name="Li") == "Welcome, Li"
