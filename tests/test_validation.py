"""Tests of app.core.formats, app.core.masking and app.demo.fakedata (pure functions; no Gongjian app needed)."""
import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from flask import Flask
from flask_babel import Babel
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from app.core import formats as v
from app.extensions import db
from app.core.formats import DomainValidationError
from app.core.masking import (
    id_card_digest,
    mask_id_card,
    mask_phone,
    sql_mask_id_card,
    sql_mask_phone,
)
from app.demo.fakedata import UNIT_TYPES, FakeData, unique_id_cards

VALID_ID = "11010519491231002X"  # the example number of GB 11643 documentation
VALID_ID_2 = "110105199001011232"  # check digit 2 by the MOD 11-2 rule


@pytest.fixture
def babel_app():
    """A bare Flask + Babel app context, so lazy messages render as in the real app."""
    app = Flask(__name__)
    Babel(app)
    with app.app_context():
        yield app


def message_of(fn, *args, **kwargs):
    with pytest.raises(DomainValidationError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ---- module hygiene --------------------------------------------------------------------------


def test_error_is_value_error_with_lazy_message(babel_app):
    with pytest.raises(ValueError) as info:
        v.validate_id_card("123")
    err = info.value
    assert isinstance(err, DomainValidationError)
    assert str(err) == str(err.message)
    assert "ID-card" in str(err)


# ---- ID card ---------------------------------------------------------------------------------


def test_check_char_rule():
    # ISO 7064 MOD 11-2 worked by hand for 11010519491231002: sum of digit*weight = 167, 167 % 11 = 2 -> 'X'
    assert v.id_card_check_char("11010519491231002") == "X"
    assert v.id_card_check_char(VALID_ID_2[:17]) == "2"


@pytest.mark.parametrize("raw, expected", [
    (VALID_ID, VALID_ID),
    ("11010519491231002x", VALID_ID),  # lowercase x accepted and upper-cased
    (" 110105 19491231 002x ", VALID_ID),  # spaces stripped
    (VALID_ID_2, VALID_ID_2),
])
def test_id_card_valid(babel_app, raw, expected):
    assert v.validate_id_card(raw) == expected


def test_id_card_bad_check_digit(babel_app):
    bad = VALID_ID_2[:17] + ("0" if VALID_ID_2[17] != "0" else "1")
    msg = message_of(v.validate_id_card, bad)
    assert msg == "Invalid ID-card number: the check digit does not match"


@pytest.mark.parametrize("bad", [
    "110105199002301236",  # 30 February (check digit recomputed below)
    "110105189912311234",  # born 1899
    "110105199013011234",  # month 13
])
def test_id_card_bad_birth_date(babel_app, bad):
    bad = bad[:17] + v.id_card_check_char(bad[:17])  # only the date is wrong
    msg = message_of(v.validate_id_card, bad)
    assert "birth date" in msg


@pytest.mark.today("2029-12-31")  # the day before that birth date: validate_id_card reads the clock
def test_id_card_birth_in_future(babel_app):
    first17 = "11010520300101123"
    number = first17 + v.id_card_check_char(first17)
    assert "birth date" in message_of(v.validate_id_card, number)
    # the same number is fine once that day has passed
    assert v.validate_id_card(number, today=date(2031, 1, 1)) == number


@pytest.mark.parametrize("bad", [
    "",
    "11010519491231002",  # 17 characters
    "11010519491231002XX",  # 19 characters
    "1101051949123100X2",  # X not last
    "11010519491231002Y",
    "110105194912310",  # old 15-digit numbers are not accepted
])
def test_id_card_wrong_length_or_chars(babel_app, bad):
    msg = message_of(v.validate_id_card, bad)
    assert "18 characters" in msg


def test_id_card_bad_region(babel_app):
    first17 = "99010519491231002"
    number = first17 + v.id_card_check_char(first17)
    assert "region" in message_of(v.validate_id_card, number)


def test_id_card_messages_are_distinct(babel_app):
    length = message_of(v.validate_id_card, "123")
    date_msg = message_of(v.validate_id_card, "110105199002301236")
    check = message_of(v.validate_id_card, VALID_ID[:17] + "1")
    assert len({length, date_msg, check}) == 3


# ---- unified social credit code --------------------------------------------------------------

VALID_CREDIT_CODES = [
    "91350100M000100Y43",
    "91110000802100433B",
    "914403001922038216",
    "91440300708461136T",
    "91330100799655058B",
]


@pytest.mark.parametrize("code", VALID_CREDIT_CODES)
def test_credit_code_valid(babel_app, code):
    assert v.validate_credit_code(code) == code
    assert v.validate_credit_code(code.lower()) == code


@pytest.mark.parametrize("code", VALID_CREDIT_CODES)
def test_credit_code_one_char_changed_fails(babel_app, code):
    # change each of the 18 positions to another allowed character: every change must fail
    for pos in range(18):
        old = code[pos]
        new = next(c for c in "0123456789" if c != old)
        changed = code[:pos] + new + code[pos + 1:]
        with pytest.raises(DomainValidationError):
            v.validate_credit_code(changed)


def test_credit_code_check_message(babel_app):
    code = VALID_CREDIT_CODES[0]
    msg = message_of(v.validate_credit_code, code[:17] + ("0" if code[17] != "0" else "1"))
    assert msg == "Invalid unified social credit code: the check character does not match"


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_credit_code_forbidden_letters(babel_app, letter):
    code = VALID_CREDIT_CODES[0]
    bad = code[:10] + letter + code[11:]
    msg = message_of(v.validate_credit_code, bad)
    assert "other than I, O, S, V and Z" in msg


def test_credit_code_length_and_authority(babel_app):
    assert "18 characters" in message_of(v.validate_credit_code, VALID_CREDIT_CODES[0][:17])
    first17 = "9435010" + "0M000100Y4"  # market regulator (9) has no category 4
    assert "registration authority" in message_of(
        v.validate_credit_code, first17 + v.credit_code_check_char(first17)
    )


# ---- mobile ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    "13812345678", "+8613812345678", "+86 138-1234-5678", "8613812345678", "138 1234 5678",
    "19912345678",
])
def test_mobile_valid(babel_app, raw):
    assert v.validate_mobile(raw) in ("13812345678", "19912345678")


@pytest.mark.parametrize("bad", [
    "138123456789",  # 12 digits
    "12812345678",  # 12x is not a mobile prefix
    "1381234567",  # 10 digits
    "23812345678",
    "+85213812345678",
    "1381234567a",
    "",
])
def test_mobile_invalid(babel_app, bad):
    assert message_of(v.validate_mobile, bad) == (
        "Invalid mobile number: it must be 11 digits starting with 13 to 19"
    )


# ---- hours -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("0.5", Decimal("0.50")), (24, Decimal("24.00")), (Decimal("1.25"), Decimal("1.25")),
    (1.5, Decimal("1.50")), ("0.01", Decimal("0.01")),
])
def test_hours_valid(babel_app, raw, expected):
    result = v.validate_hours(raw)
    assert isinstance(result, Decimal)
    assert result == expected


@pytest.mark.parametrize("bad", [0, "0", -1, "24.01", 25, "1.234", "abc", None, "NaN", "Infinity", True])
def test_hours_invalid(babel_app, bad):
    msg = message_of(v.validate_hours, bad)
    assert "more than 0 and at most 24" in msg


# ---- dates -----------------------------------------------------------------------------------


def test_date_not_future(babel_app):
    today = date(2025, 6, 1)
    assert v.validate_date_not_future(date(2025, 6, 1), today=today) == date(2025, 6, 1)
    assert v.validate_date_not_future(datetime(2025, 6, 1, 23, 59), today=today) == datetime(2025, 6, 1, 23, 59)
    assert v.validate_date_not_future(None) is None
    assert "2025-06-02" in message_of(v.validate_date_not_future, date(2025, 6, 2), today=today)


def test_date_order(babel_app):
    start, end = date(2025, 1, 1), date(2025, 12, 31)
    assert v.validate_date_order(start, end) == (start, end)
    assert v.validate_date_order(None, end) == (None, end)
    msg = message_of(v.validate_date_order, end, start)
    assert "2025-01-01" in msg and "2025-12-31" in msg and "after" in msg
    # equal is not "after"
    with pytest.raises(DomainValidationError):
        v.validate_date_order(start, start)
    labelled = message_of(v.validate_date_order, end, start, start_label="Term start", end_label="Term end")
    assert labelled.startswith("Term end (2025-01-01) must be after Term start (2025-12-31)")
    t1, t2 = datetime(2025, 3, 1, 9, 0), datetime(2025, 3, 1, 11, 30)
    assert v.validate_date_order(t1, t2) == (t1, t2)
    assert "09:00" in message_of(v.validate_date_order, t2, t1)


# ---- masking ---------------------------------------------------------------------------------


def test_mask_python():
    assert mask_id_card("110105199001011234") == "110105********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id_card(None) is None and mask_phone(None) is None
    assert mask_id_card("") == "" and mask_phone("") == ""
    assert mask_id_card("1234") == "****"  # too short to keep anything
    assert mask_phone("1381234") == "*******"
    assert mask_id_card("110105900101123") == "110105*****1123"  # 15 characters


MASK_SAMPLES = [
    "110105199001011234", "11010519491231002X", "13812345678", "", "1", "1234567",
    "12345678", "1234567890", "12345678901", "110105900101123", "+8613812345678",
]


def test_mask_sql_equals_python_on_sqlite():
    engine = create_engine("sqlite://")
    metadata = MetaData()
    people = Table("people", metadata, Column("id", Integer, primary_key=True), Column("value", String))
    metadata.create_all(engine)
    samples = MASK_SAMPLES + [None] + [FakeData(3).id_card() for _ in range(20)]
    with engine.begin() as conn:
        conn.execute(insert(people), [{"id": i, "value": s} for i, s in enumerate(samples)])
        rows = conn.execute(
            select(people.c.value, sql_mask_id_card(people.c.value), sql_mask_phone(people.c.value))
            .order_by(people.c.id)
        ).all()
    assert len(rows) == len(samples)
    for value, masked_id, masked_phone in rows:
        assert masked_id == mask_id_card(value), value
        assert masked_phone == mask_phone(value), value
    assert rows[0][1] == "110105********1234"
    assert rows[2][2] == "138****5678"


def test_mask_sql_compiles_for_postgresql():
    from sqlalchemy.dialects import postgresql

    col = Column("id_card", String)
    sql = str(sql_mask_id_card(col).compile(dialect=postgresql.dialect()))
    assert "substr" in sql and "||" in sql and "length" in sql


def test_id_card_digest():
    key = b"secret-key"
    digest = id_card_digest(VALID_ID, key)
    assert re.fullmatch(r"[0-9a-f]{64}", digest), digest  # 64 lower-case hex digits (SHA-256)
    assert digest == id_card_digest(VALID_ID, key)  # stable
    assert digest == id_card_digest(" 11010519491231002x ", key)  # normalized
    assert digest == id_card_digest(VALID_ID, "secret-key")  # str key == its UTF-8 bytes
    assert digest != id_card_digest(VALID_ID, b"other-key")  # key sensitive
    assert digest != id_card_digest(VALID_ID_2, key)
    assert VALID_ID not in digest
    # it is the plain HMAC-SHA256 of the normalized number, so other tools can reproduce it
    import hashlib
    import hmac

    assert digest == hmac.new(key, VALID_ID.encode(), hashlib.sha256).hexdigest()
    assert id_card_digest(None, key) is None and id_card_digest("  ", key) is None
    with pytest.raises(ValueError):
        id_card_digest(VALID_ID, b"")


# ---- fake data -------------------------------------------------------------------------------


def test_fakedata_is_deterministic():
    a, b = FakeData(7), FakeData(7)
    assert [a.person_name() for _ in range(50)] == [b.person_name() for _ in range(50)]
    assert [a.id_card() for _ in range(50)] == [b.id_card() for _ in range(50)]
    assert [FakeData(8).mobile() for _ in range(5)] != [FakeData(9).mobile() for _ in range(5)]


def test_fakedata_outputs_validate(babel_app):
    fake = FakeData(1)
    for _ in range(1000):
        number = fake.id_card()
        assert v.validate_id_card(number) == number
        assert number.startswith("650102")
        phone = fake.mobile()
        assert v.validate_mobile(phone) == phone
        code = fake.credit_code()
        assert v.validate_credit_code(code) == code
        assert code.startswith("91659001")
    for unit_type in UNIT_TYPES:
        for _ in range(200):
            code = fake.unit_credit_code(unit_type)
            assert v.validate_credit_code(code) == code


def test_fakedata_id_card_gender_and_years(babel_app):
    fake = FakeData(2)
    for _ in range(300):
        male = fake.id_card(gender="男", birth_year_range=(1970, 1980))
        female = fake.id_card(gender="female", region="110105")
        assert int(male[16]) % 2 == 1 and int(female[16]) % 2 == 0
        assert 1970 <= int(male[6:10]) <= 1980
        assert female.startswith("110105")
        v.validate_id_card(male)
        v.validate_id_card(female)


def test_unique_id_cards(babel_app):
    numbers = list(FakeData(5).unique_id_cards(20000))
    assert len(numbers) == 20000
    assert len(set(numbers)) == 20000
    for number in numbers:
        assert v.validate_id_card(number) == number
    assert list(unique_id_cards(500, seed=11)) == list(FakeData(11).unique_id_cards(500))  # deterministic
    several = list(FakeData(6).unique_id_cards(3000, region=["650102", "650103"], birth_year_range=(1990, 1990)))
    assert len(set(several)) == 3000 and {n[:6] for n in several} == {"650102", "650103"}
    with pytest.raises(ValueError):
        list(FakeData().unique_id_cards(10**6, birth_year_range=(1990, 1990)))


def test_fakedata_texts():
    fake = FakeData(4)
    names = [fake.person_name() for _ in range(500)]
    assert all(2 <= len(n) <= 4 for n in names)
    assert len(set(names)) > 300
    assert fake.street_name().endswith("街道")
    assert all(fake.community_name().endswith("社区") for _ in range(50))
    assert fake.gender() in ("男", "女")
    skills = fake.skills()
    assert 1 <= len(skills) <= 3 and len(set(skills)) == len(skills)
    assert all(fake.unit_name("private").endswith("有限公司") for _ in range(50))
    assert all(fake.unit_name("organ")[-1] in "局会部联" for _ in range(50))
    assert "号" in fake.address() and "室" in fake.address()
    topics = {fake.meeting_topic() for _ in range(100)}
    resolutions = {fake.resolution_title() for _ in range(100)}
    assert len(topics) > 20 and len(resolutions) > 20
    with pytest.raises(ValueError):
        fake.unit_name("church")


def test_today_is_the_districts_date_not_the_servers():
    """At 01:00 in Shanghai (17:00 UTC the day before) a date entered for today is not future."""
    import time_machine

    from app.core.formats import validate_date_not_future

    with time_machine.travel(datetime(2026, 12, 7, 17, 0, tzinfo=timezone.utc), tick=False):
        assert validate_date_not_future(date(2026, 12, 8)) == date(2026, 12, 8)
        with pytest.raises(DomainValidationError):
            validate_date_not_future(date(2026, 12, 9))


# ---- edges a one-character slip in a rule would let through (issue 20) ------------------------


def test_an_id_card_with_a_province_but_no_city_region_xx0000_is_refused(babel_app):
    for region in ("110000", "650000"):
        first17 = region + "19491231002"
        number = first17 + v.id_card_check_char(first17)
        assert "region" in message_of(v.validate_id_card, number), number
    first17 = "650102" + "19491231002"  # the district itself is fine
    assert v.validate_id_card(first17 + v.id_card_check_char(first17)) == first17 + v.id_card_check_char(first17)


@pytest.mark.today("2026-10-08")
def test_an_id_card_birth_date_runs_from_1900_to_today_inclusive(babel_app):
    def number(birth):
        first17 = "110105" + birth + "123"
        return first17 + v.id_card_check_char(first17)

    assert v.validate_id_card(number("19000101")) == number("19000101")
    assert "birth date" in message_of(v.validate_id_card, number("18991231"))
    assert v.validate_id_card(number("20261008")) == number("20261008")  # born today (the pinned clock)
    assert "birth date" in message_of(v.validate_id_card, number("20261009"))  # born tomorrow


# Registered codes with the check characters at the two ends of the modulus 31: a weighted sum that
# is a multiple of 31 gives "0" (31 - 0 wraps to 0), a sum of 1 mod 31 gives "Y" (the 31st
# character). Written out, not computed: the fake-data generator shares the function under test.
CREDIT_CODES_AT_THE_MODULUS_EDGES = [
    "52440111MJK9980480",  # sum = 0 (mod 31)
    "91110108735106340Y",  # sum = 1 (mod 31)
    "91110113766754543Y",
    "91460600MA5RC30P9Y",
    "91110108551385082Q",
    "911000001000013428",
]


@pytest.mark.parametrize("code", CREDIT_CODES_AT_THE_MODULUS_EDGES)
def test_registered_credit_codes_whose_check_character_wraps_the_modulus_are_accepted(babel_app, code):
    assert v.validate_credit_code(code) == code
    assert v.credit_code_check_char(code[:17]) == code[17]
    for other in "0Y1":  # and no other check character is
        if other != code[17]:
            with pytest.raises(DomainValidationError):
                v.validate_credit_code(code[:17] + other)


@pytest.mark.parametrize("bad", [
    "+8513812345678",  # +85 is not China's country code
    "8013812345678",  # nor is 80
    "+861381234567",  # +86 and 10 digits
    "+86138123456789",  # +86 and 12 digits
    "86 138 1234 567",  # 86 and 10 digits
    "+86+8613812345678",
])
def test_a_country_code_prefix_is_only_plus86_or_86_before_exactly_11_digits(babel_app, bad):
    assert message_of(v.validate_mobile, bad) == "Invalid mobile number: it must be 11 digits starting with 13 to 19"


def test_values_entered_loosely_are_stored_normalised_through_the_api(app, world, api):
    """A lower-case x in an ID-card number, a +86 with spaces and dashes in a phone, a lower-case
    credit code: the API stores (and shows back) the normalised value."""
    from app.extensions import db
    from models import PartyMember, Unit

    created = api("community1").post("/api/v1/party_member/", json={
        "name": "规范化", "id_card": VALID_ID.lower(), "phone": "+86 139-0123-4567", "area": world["g11"]})
    assert created.status_code == 201, created.json
    orgdept = api("orgdept")  # sees personal data in full, so the GET shows what is stored
    shown = orgdept.get(f"/api/v1/party_member/{created.json['id']}").json["result"]
    assert shown["id_card"] == VALID_ID and shown["phone"] == "13901234567"
    code = "91110108735106340Y"
    unit = orgdept.post("/api/v1/unit/", json={"name": "规范化单位", "unit_type": "private", "area": world["c1"],
                                               "credit_code": code.lower()})
    assert unit.status_code == 201, unit.json
    assert orgdept.get(f"/api/v1/unit/{unit.json['id']}").json["result"]["credit_code"] == code
    with app.app_context():
        assert db.session.get(PartyMember, created.json["id"]).id_card == VALID_ID
        assert db.session.get(Unit, unit.json["id"]).credit_code == code


# ---- every format refusal is said in Chinese (the app's first language) ----------------------

FORMAT_REFUSALS = [  # (rule, bad value, the rule's message as written in the catalogue)
    (v.validate_id_card, "1101051949123100", "Invalid ID-card number: it must be 18 characters, 17 digits followed "
                                            "by a digit or X"),
    (v.validate_id_card, "11000019491231002X", "Invalid ID-card number: the first six digits are not a valid region "
                                              "code"),
    (v.validate_id_card, "110105194913310020", "Invalid ID-card number: the birth date (digits 7 to 14) is not a real "
                                              "past date"),
    (v.validate_id_card, VALID_ID[:17] + "1", "Invalid ID-card number: the check digit does not match"),
    (v.validate_credit_code, "91350100M000100Y4", "Invalid unified social credit code: it must be 18 characters of "
                                                 "digits and capital letters other than I, O, S, V and Z"),
    (v.validate_credit_code, "94350100M000100Y43", "Invalid unified social credit code: the first two characters are "
                                                  "not a known registration authority and organisation category"),
    (v.validate_credit_code, "91050100M000100Y43", "Invalid unified social credit code: characters 3 to 8 must be a "
                                                  "region code"),
    (v.validate_credit_code, "91350100M000100Y44", "Invalid unified social credit code: the check character does not "
                                                  "match"),
    (v.validate_mobile, "12812345678", "Invalid mobile number: it must be 11 digits starting with 13 to 19"),
    (v.validate_hours, "0", "Service hours must be more than 0 and at most 24, with at most 2 decimal places"),
    (v.validate_quarter, "2026Q5", "Write the quarter as a year and a quarter number, e.g. 2026Q4"),
]


@pytest.mark.parametrize("rule, value, msgid", FORMAT_REFUSALS, ids=lambda x: getattr(x, "__name__", None))
def test_each_format_refusal_is_said_in_chinese(app, rule, value, msgid):
    from flask_babel import gettext

    with app.test_request_context("/"):
        said, expected = message_of(rule, value), gettext(msgid)
    assert expected != msgid  # translated
    assert said == expected


def test_a_future_date_and_a_reversed_period_are_said_in_chinese_with_the_values(app):
    from datetime import date, datetime

    from flask_babel import gettext

    with app.test_request_context("/"):
        future = message_of(v.validate_date_not_future, date(2026, 12, 9), today=date(2026, 12, 7))
        assert future == gettext("The date %(date)s is in the future", date="2026-12-09")
        reversed_days = message_of(v.validate_date_order, date(2026, 3, 2), date(2026, 3, 1))
        assert reversed_days == gettext("%(end_label)s (%(end)s) must be after %(start_label)s (%(start)s)",
                                        end_label=gettext("The end"), end="2026-03-01",
                                        start_label=gettext("the start"), start="2026-03-02")
        reversed_times = message_of(v.validate_date_order, datetime(2026, 3, 1, 11, 30), datetime(2026, 3, 1, 9, 0))
        assert "2026-03-01 09:00:00" in reversed_times and "2026-03-01 11:30:00" in reversed_times
        mixed = message_of(v.validate_date_order, datetime(2026, 3, 2, 9, 0), date(2026, 3, 1))
        assert "2026-03-01" in mixed and "2026-03-02" in mixed and "09:00" not in mixed  # compared as days


@pytest.mark.parametrize("hours", [None, True, False, "", "abc", "nan", "inf", "-1", "24.01", "1.005", 0])
def test_hours_that_are_not_service_hours_are_refused(hours):
    with pytest.raises(DomainValidationError):
        v.validate_hours(hours)


def test_hours_given_as_a_decimal_are_kept_to_two_places():
    from decimal import Decimal

    assert v.validate_hours(Decimal("1.5")) == Decimal("1.50")
    assert str(v.validate_hours(Decimal("2"))) == "2.00"
    assert v.validate_hours(" 3.25 ") == Decimal("3.25")


def test_a_missing_mobile_is_refused_as_not_a_mobile():
    assert "11" in message_of(v.validate_mobile, None)


def test_every_sql_mask_equals_its_python_mask_on_the_apps_database(app):
    """Lists and exports mask in SQL (app/core/policy.py), the screens and the API in Python: the
    same value reads the same on both paths, on SQLite and PostgreSQL, for every kind of personal
    data, Chinese addresses included (lengths in characters, not bytes)."""
    from sqlalchemy import String, literal, select, union_all

    from app.core.masking import MASK_BY_KIND, SQL_MASK_BY_KIND

    samples = MASK_SAMPLES + ["北京市朝阳区望京街道1号楼2单元301", "北京市朝阳区", "北京市朝阳", "天山区幸福社区7号",
                              "Room 5, 1 Main St"]
    table = union_all(*[select(literal(sample, String).label("value")) for sample in samples]).subquery("samples")
    with app.app_context():
        for kind, sql_mask in SQL_MASK_BY_KIND.items():
            rows = db.session.execute(select(table.c.value, sql_mask(table.c.value))).all()
            assert len(rows) == len(samples)
            for value, masked in rows:
                assert masked == MASK_BY_KIND[kind](value), (kind, value, masked)
        db.session.remove()
    assert MASK_BY_KIND["address"]("北京市朝阳区望京街道1号楼2单元301") == "北京市朝阳区****"
