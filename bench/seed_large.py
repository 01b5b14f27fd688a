"""Seed a LARGE district for benchmarks, fast: Core bulk inserts, no ORM hooks, no audit entries.

    python bench/seed_large.py --database-url sqlite:////tmp/gjbench/gongjian.sqlite
    python bench/seed_large.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/gjbench \
        [--members 100000] [--services 1000000] [--units 1000] [--data-dir /tmp/gjbench]

Creates the app on that database, runs `gongjian init` (migrations, roles, reference data), then
inserts ~2,000 areas (district → 6 streets → 40 communities → ~1,600 grids → micro-grids), ~1,000
units with check-ins, the members with their check-ins and the service records, with executemany
in chunks of 10k. What the ORM hooks would derive is computed here: area paths, ``community_id``
and ``id_card_digest`` (HMAC under the app's PERSONAL_DATA_HASH_KEY). The demo users of the
contract (app.demo.users.create_demo_users, through the ORM) get scopes in this district.

No audit entries are written for the bulk rows (a bench needs none; the chain stays valid).
PostgreSQL is VACUUM ANALYZEd afterwards (what autovacuum does soon after a bulk load); SQLite is
left without statistics, as the app leaves it, unless --sqlite-analyze is given.
"""
import argparse
import os
import random
import sys
import time
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DISTRICT_CODE = "659999"
DISTRICT_NAME = "云岭区"
CHUNK = 10_000
ID_CARD_REGIONS = ("650102", "650103", "650104", "650105", "650106", "620102", "610113", "410105",
                   "510104", "370102", "130102", "420102")


def log(message, started=[None]):  # noqa: B006 - a process-wide start time
    if started[0] is None:
        started[0] = time.perf_counter()
    print(f"[{time.perf_counter() - started[0]:7.1f}s] {message}", flush=True)


def make_app(database_url, data_dir):
    os.environ["DATABASE_URL"] = database_url
    os.environ["GONGJIAN_DATA_DIR"] = data_dir
    os.environ.setdefault("GONGJIAN_ENV", "demo")
    from app import create_app

    return create_app()


def run_init(app):
    result = app.test_cli_runner().invoke(args=["gongjian", "init"])
    if result.exit_code != 0:
        print(result.output, file=sys.stderr)
        raise SystemExit(f"gongjian init failed: {result.exception!r}")


def insert(conn, table, rows):
    for start in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[start:start + CHUNK])


def next_id(conn, table):
    from sqlalchemy import func, select

    return (conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1


def reset_sequences(conn, tables):
    from sqlalchemy import text

    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table.name}))"))


class LargeSeeder:
    def __init__(self, app, members, services, units, seed=7):
        from app.demo.fakedata import FakeData

        self.app = app
        self.n_members = members
        self.n_services = services
        self.n_units = units
        self.fake = FakeData(seed=seed)
        self.rng = random.Random(seed + 1)
        from models.base import utcnow

        self.now = utcnow().replace(microsecond=0)
        self.today = date.today()
        self.stamp = {"created_at": self.now, "updated_at": self.now}
        self.names = set()

    def unique_name(self, make):
        for _ in range(30):
            name = make()
            if name not in self.names:
                self.names.add(name)
                return name
        n = 2
        while f"{name}（{n}）" in self.names:
            n += 1
        self.names.add(f"{name}（{n}）")
        return f"{name}（{n}）"

    # ---------------------------------------------------------------------------------------------

    def areas(self, conn):
        from models import Area

        fake, rng = self.fake, self.rng
        table = Area.__table__
        next_area = next_id(conn, table)
        rows = []

        def add(level, code, name, parent, **extra):
            nonlocal next_area
            row = {"id": next_area, "parent_id": parent["id"] if parent else None, "level": level, "code": code,
                   "name": name, "path": f"{parent['path'] if parent else '/'}{code}/", "grid_worker": None,
                   "grid_worker_phone": None, "household_heads": None, "central_households": None,
                   "note": None, **self.stamp}
            row.update(extra)
            rows.append(row)
            next_area += 1
            return row

        district = add("district", DISTRICT_CODE, DISTRICT_NAME, None, note="基准测试数据（虚构）")
        streets = [add("street", f"{DISTRICT_CODE}{s + 1:03d}", self.unique_name(fake.street_name), district)
                   for s in range(6)]
        self.communities, self.homes = [], []  # homes: (area id, community id) where members live
        for c in range(40):
            street = streets[c % len(streets)]
            community = add("community", f"{street['code']}{c // len(streets) + 1:03d}",
                            self.unique_name(fake.community_name), street,
                            household_heads=rng.randint(300, 700), central_households=rng.randint(40, 120))
            self.communities.append(community)
            for g in range(40):
                grid = add("grid", f"{community['code']}{g + 1:03d}", f"{community['name']}{fake.grid_name(g + 1)}",
                           community, grid_worker=fake.person_name(), grid_worker_phone=fake.mobile(),
                           household_heads=rng.randint(8, 18), central_households=rng.randint(2, 6))
                self.homes.append((grid["id"], community["id"]))
                if g % 5 == 0:  # every fifth grid is split into micro-grids
                    for m in range(rng.randint(1, 2)):
                        micro = add("microgrid", f"{grid['code']}{m + 1:02d}", f"{grid['name']}{m + 1}号微网格", grid,
                                    grid_worker=fake.person_name(), grid_worker_phone=fake.mobile())
                        self.homes.append((micro["id"], community["id"]))
        insert(conn, table, rows)
        self.street_ids = [s["id"] for s in streets]
        self.area_count = len(rows)

    def units(self, conn):
        from models import Unit, UnitCheckin
        from models.unit import UNIT_TYPES

        fake, rng = self.fake, self.rng
        table = Unit.__table__
        first = next_id(conn, table)
        codes, rows, checkins = set(), [], []
        next_checkin = next_id(conn, UnitCheckin.__table__)
        types = UNIT_TYPES.codes
        for i in range(self.n_units):
            unit_type = types[i % len(types)]
            community = self.communities[i % len(self.communities)]
            code = fake.unit_credit_code(unit_type)
            while code in codes:
                code = fake.unit_credit_code(unit_type)
            codes.add(code)
            name = self.unique_name(lambda: fake.unit_name(unit_type))
            rows.append({"id": first + i, "name": name, "unit_type": unit_type, "credit_code": code,
                         "area_id": community["id"], "party_org_name": f"中共{name}支部委员会",
                         "party_org_type": "branch", "secretary": fake.person_name(), "liaison": fake.person_name(),
                         "liaison_phone": fake.mobile(), "member_count": rng.randint(10, 200),
                         "address": fake.address(), "note": None, **self.stamp})
            status = "confirmed" if i < len(self.communities) else rng.choice(("confirmed", "confirmed", "registered"))
            registered_on = self.today - timedelta(days=rng.randint(20, 700))
            checkins.append({"id": next_checkin + i, "unit_id": first + i, "area_id": community["id"],
                             "community_id": community["id"], "status": status, "slip_no": f"BD{first + i:06d}",
                             "registered_on": registered_on,
                             "confirmed_on": registered_on + timedelta(days=5) if status == "confirmed" else None,
                             "confirmed_by": None, "receipt_no": None, "note": None, **self.stamp})
        insert(conn, table, rows)
        insert(conn, UnitCheckin.__table__, checkins)
        self.unit_ids = [r["id"] for r in rows]
        # Unit i checked in (confirmed) to community i % 40: unit 0 is in community 0 of street 0.
        self.liaison_unit = rows[0]["id"]

    def members(self, conn):
        from sqlalchemy import select

        from app.core.masking import id_card_digest
        from models import MemberCheckin, PartyMember, PostCategory

        fake, rng = self.fake, self.rng
        key = self.app.config["PERSONAL_DATA_HASH_KEY"]
        posts = list(conn.execute(select(PostCategory.id)).scalars()) or [None]
        table = PartyMember.__table__
        first = next_id(conn, table)
        next_checkin = next_id(conn, MemberCheckin.__table__)
        phones = set()
        rows, checkins = [], []
        self.member_homes = []  # per member: (area id, community id)
        cards = fake.unique_id_cards(self.n_members, region=ID_CARD_REGIONS, birth_year_range=(1961, 2000))
        skills = [fake.skills() for _ in range(500)]
        addresses = [fake.address() for _ in range(2000)]
        for i, card in enumerate(cards):
            area_id, community_id = rng.choice(self.homes)
            phone = fake.mobile()
            while phone in phones:
                phone = fake.mobile()
            phones.add(phone)
            gender = "male" if int(card[16]) % 2 else "female"
            member_id = first + i
            rows.append({
                "id": member_id, "name": fake.person_name("男" if gender == "male" else "女"), "gender": gender,
                "id_card": card, "id_card_digest": id_card_digest(card, key), "phone": phone,
                "employer_id": rng.choice(self.unit_ids), "party_joined_on": date(int(card[6:10]) + 22, 7, 1),
                "skills": "、".join(rng.choice(skills)), "post_category_id": rng.choice(posts),
                "preferred_post": fake.post_name(), "address": rng.choice(addresses), "note": None,
                "area_id": area_id, "community_id": community_id, **self.stamp,
            })
            self.member_homes.append((area_id, community_id))
            roll = rng.random()
            if roll < 0.88:
                registered_on = self.today - timedelta(days=rng.randint(1, 700))
                status = "confirmed" if roll < 0.75 else "registered" if roll < 0.82 else "expired"
                checkins.append({
                    "id": next_checkin + len(checkins), "member_id": member_id, "area_id": area_id,
                    "community_id": community_id, "status": status, "card_no": f"BDZ{member_id:07d}",
                    "registered_on": registered_on,
                    "confirmed_on": registered_on + timedelta(days=3) if status != "registered" else None,
                    "valid_until": registered_on + timedelta(days=182) if status != "registered" else None,
                    "post_category_id": rows[-1]["post_category_id"], "note": None, **self.stamp,
                })
            if len(rows) >= CHUNK:
                insert(conn, table, rows)
                rows = []
        insert(conn, table, rows)
        insert(conn, MemberCheckin.__table__, checkins)
        self.first_member = first
        self.checkin_count = len(checkins)

    def services(self, conn):
        from sqlalchemy import select

        from app.demo.phrases import SERVICE_CONTENTS
        from models import ServiceRecord, Setting

        rng = self.rng
        per_hour = float(conn.execute(select(Setting.value).where(Setting.key == "points_per_hour")).scalar() or 1)
        table = ServiceRecord.__table__
        first = next_id(conn, table)
        verifiers = [self.fake.person_name() for _ in range(200)]
        days = [self.today - timedelta(days=d) for d in range(1, 731)]
        unit_home = {uid: self.communities[i % len(self.communities)]["id"] for i, uid in enumerate(self.unit_ids)}
        rows = []
        for i in range(self.n_services):
            hours = rng.randint(1, 8) / 2
            served_on = rng.choice(days)
            if rng.random() < 0.03:  # a unit's own service
                unit_id = rng.choice(self.unit_ids)
                member_id, area_id, community_id = None, unit_home[unit_id], unit_home[unit_id]
            else:
                index = rng.randrange(self.n_members)
                member_id, unit_id = self.first_member + index, None
                area_id, community_id = self.member_homes[index]
            verified = rng.random() < 0.85
            rows.append({
                "id": first + i, "member_id": member_id, "unit_id": unit_id, "project_id": None,
                "area_id": area_id, "community_id": community_id, "served_on": served_on, "hours": hours,
                "points": hours * per_hour, "content": rng.choice(SERVICE_CONTENTS),
                "verified_by": rng.choice(verifiers) if verified else None,
                "verified_on": served_on if verified else None, "checked_in_at": None, "checked_out_at": None,
                "note": None, **self.stamp,
            })
            if len(rows) >= CHUNK:
                insert(conn, table, rows)
                rows = []
        insert(conn, table, rows)

    # ---------------------------------------------------------------------------------------------

    def run(self):
        from sqlalchemy import select, text

        from app.core.actor import acting_as
        from app.demo.users import create_demo_users
        from app.extensions import db
        from models import Area, MemberCheckin, PartyMember, ServiceRecord, Unit, UnitCheckin

        with self.app.app_context():
            engine = db.engine
            with engine.connect() as conn:
                if conn.execute(select(Area.id).where(Area.code == DISTRICT_CODE)).first() is not None:
                    raise SystemExit(f"The bench district {DISTRICT_CODE} already exists in this database")
            with engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA synchronous=OFF")
                self.areas(conn)
                log(f"areas: {self.area_count}")
                self.units(conn)
                log(f"units: {len(self.unit_ids)} (+ check-ins)")
                self.members(conn)
                log(f"party members: {self.n_members}, member check-ins: {self.checkin_count}")
                self.services(conn)
                log(f"service records: {self.n_services}")
                reset_sequences(conn, [t.__table__ for t in (Area, Unit, UnitCheckin, PartyMember, MemberCheckin,
                                                              ServiceRecord)])
            if engine.dialect.name == "postgresql":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
                log("VACUUM ANALYZE done")
            elif self.sqlite_analyze:
                with engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
                log("ANALYZE done")
            c1, c2 = self.communities[0]["id"], self.communities[1]["id"]  # streets 1 and 2
            with acting_as(None, via="cli"):
                created = create_demo_users(self.street_ids[0], c1, c2, self.liaison_unit)
            log(f"demo users created: {created}")

    sqlite_analyze = False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", default=None, help="instance data dir (default: /tmp/gjbench-data)")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--services", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=1_000)
    parser.add_argument("--sqlite-analyze", action="store_true", help="run ANALYZE on SQLite after loading")
    args = parser.parse_args(argv)
    log("creating the app and running gongjian init")
    app = make_app(args.database_url, args.data_dir or "/tmp/gjbench-data")
    run_init(app)
    log("init done")
    seeder = LargeSeeder(app, args.members, args.services, args.units)
    seeder.sqlite_analyze = args.sqlite_analyze
    seeder.run()
    log("done")


if __name__ == "__main__":
    main()
