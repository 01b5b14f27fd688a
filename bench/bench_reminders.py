"""Benchmark one reminder scan (app.reminders.scan.run_scan) over a large district, at two sizes, and show
that the number of SQL statements does not grow with the number of members or resolutions.

    python bench/bench_reminders.py --database-url sqlite:////tmp/gjrem/gongjian.sqlite
    python bench/bench_reminders.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/gjrem

For each size (default: half, then full: 100,000 members, 10,000 resolutions, 2,000 meetings) it
builds a fresh database (the SQLite file is replaced; the PostgreSQL database is created and
dropped), seeds it with bench/seed_large.py (areas, units, members, check-ins, service records,
demo users), adds the meetings with their agenda, resolutions (co-owner units too), unit
attendance, co-building agreements and one community admin per community, then times:

* the first scan (every rule; many reminders are due: claims, rendering, in-app sending), and
* a second scan at the same moment (nothing new: the steady state of the hourly beat scan),

counting SQL statements with a ``before_cursor_execute`` listener. The moment is 5 days before
the quarter ends, so the quarter-end rules (members not checked in or under quota, unit reports)
run too. Target: ≤ 10 s per scan.
"""
import argparse
import os
import random
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.seed_large import LargeSeeder, insert, log, make_app, next_id, reset_sequences, run_init  # noqa: E402


def fresh_database(url):
    """Empty the target database; returns a function that drops it afterwards (PostgreSQL)."""
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return lambda: None
    import psycopg

    base, name = url.rsplit("/", 1)
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return drop


class MeetingSeeder:
    """Meetings (2 per grid-ish), agenda items, resolutions, attending units, agreements."""

    def __init__(self, seeder, meetings, resolutions, seed=11):
        self.s = seeder
        self.n_meetings = meetings
        self.n_resolutions = resolutions
        self.rng = random.Random(seed)

    def run(self, conn):
        from sqlalchemy import select

        from models import AgendaItem, Agreement, Meeting, MeetingType, Resolution, UnitCheckin
        from models.meeting import meeting_unit, resolution_co_unit

        rng, s, today = self.rng, self.s, self.s.today
        types = list(conn.execute(select(MeetingType.id)).scalars())
        homes = s.homes  # (area id, community id)
        first = next_id(conn, Meeting.__table__)
        meetings, links, agenda = [], [], []
        for i in range(self.n_meetings):
            area_id, community_id = homes[i % len(homes)] if i % 3 else (s.communities[i % 40]["id"],) * 2
            planned = i % 5 == 0
            held = today + timedelta(days=rng.randint(1, 20)) if planned else today - timedelta(days=rng.randint(1, 300))
            status = "planned" if planned else rng.choice(("held", "minutes_filed", "minutes_filed"))
            meetings.append({"id": first + i, "meeting_type_id": rng.choice(types), "title": f"联席会议{i}",
                             "status": status, "held_at": datetime.combine(held, dtime(9)), "place": "党群服务中心",
                             "convener": s.fake.person_name(), "note_taker": s.fake.person_name(),
                             "attendees": "、".join(s.fake.person_name() for _ in range(4)),
                             "minutes": "纪要" if status == "minutes_filed" else None, "area_id": area_id,
                             "community_id": community_id, **s.stamp})
            for unit_id in rng.sample(s.unit_ids, 2):
                links.append({"meeting_id": first + i, "unit_id": unit_id})
            agenda.append({"id": None, "meeting_id": first + i, "seq": 1, "title": "议题", "proposer": None,
                           "discussion": None, "area_id": area_id, "community_id": community_id, **s.stamp})
        insert(conn, Meeting.__table__, meetings)
        insert(conn, meeting_unit, links)
        first_agenda = next_id(conn, AgendaItem.__table__)
        for n, row in enumerate(agenda):
            row["id"] = first_agenda + n
        insert(conn, AgendaItem.__table__, agenda)
        first_resolution = next_id(conn, Resolution.__table__)
        resolutions, co_units = [], []
        for i in range(self.n_resolutions):
            meeting = meetings[i % len(meetings)]
            status = ("open", "in_progress", "done", "overdue")[i % 4]
            deadline = today + timedelta(days=rng.randint(-60, 60))
            lead = rng.choice(s.unit_ids)
            resolutions.append({"id": first_resolution + i, "meeting_id": meeting["id"], "title": f"议定事项{i}",
                                "requirements": None, "lead_unit_id": lead, "lead_person": s.fake.person_name(),
                                "co_owners": s.fake.person_name(), "deadline": deadline, "status": status,
                                "progress": None, "evidence": "已办结" if status == "done" else None,
                                "evidence_file": None, "signed_off_by": None, "signed_off_at": None,
                                "area_id": meeting["area_id"], "community_id": meeting["community_id"], **s.stamp})
            co_units.append({"resolution_id": first_resolution + i, "unit_id": rng.choice(s.unit_ids)})
        insert(conn, Resolution.__table__, resolutions)
        insert(conn, resolution_co_unit, co_units)
        checkins = conn.execute(select(UnitCheckin.id, UnitCheckin.area_id, UnitCheckin.community_id)
                                .where(UnitCheckin.status == "confirmed")).all()
        first_agreement = next_id(conn, Agreement.__table__)
        agreements = [{"id": first_agreement + n, "checkin_id": c.id, "title": f"共建协议{n}",
                       "starts_on": today - timedelta(days=300), "ends_on": today + timedelta(days=rng.randint(-30, 400)),
                       "signed_on": today - timedelta(days=300), "liaison": None, "liaison_phone": None,
                       "content": None, "file": None, "area_id": c.area_id, "community_id": c.community_id, **s.stamp}
                      for n, c in enumerate(checkins)]
        insert(conn, Agreement.__table__, agreements)
        reset_sequences(conn, [Meeting.__table__, AgendaItem.__table__, Resolution.__table__, Agreement.__table__])
        return len(meetings), len(resolutions), len(agreements)


def community_admins(app, seeder):
    """One community admin per community (recipients of the admin rules and the digest)."""
    from app.core.actor import acting_as
    from app.extensions import db
    from models import UserScope

    sm = app.appbuilder.sm
    role = sm.find_role("CommunityAdmin")
    with acting_as(None, via="cli"):
        for n, community in enumerate(seeder.communities):
            user = sm.add_user(f"bench_c{n}", "管理员", f"社区{n}", f"bench_c{n}@example.cn", role, "Bench-Passw0rd!")
            db.session.add(UserScope(user_id=user.id, area_id=community["id"]))
        db.session.commit()


def build(url, data_dir, members, resolutions, meetings, services):
    drop = fresh_database(url)
    app = make_app(url, data_dir)
    run_init(app)
    seeder = LargeSeeder(app, members, services, units=1000)
    seeder.run()
    with app.app_context():
        from app.extensions import db

        with db.engine.begin() as conn:
            figures = MeetingSeeder(seeder, meetings, resolutions).run(conn)
        log(f"meetings: {figures[0]}, resolutions: {figures[1]}, agreements: {figures[2]}")
        community_admins(app, seeder)
        if db.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
    return app, drop


def timed_scan(app, now):
    from sqlalchemy import event

    from app.core.actor import acting_as
    from app.extensions import db
    from app.reminders.scan import run_scan

    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            started = time.perf_counter()
            with acting_as(None, via="cli"):
                report = run_scan(now=now)
            elapsed = time.perf_counter() - started
        finally:
            event.remove(engine, "before_cursor_execute", count)
        db.session.remove()
    return elapsed, len(statements), report


def scan_moment():
    """09:00 local time, 5 days before the current quarter ends (naive UTC)."""
    from app.statistics.definitions import quarter_of

    _label, _start, end = quarter_of(date.today())
    return datetime.combine(end - timedelta(days=5), dtime(9)) - timedelta(hours=8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--resolutions", type=int, default=10_000)
    parser.add_argument("--meetings", type=int, default=2_000)
    parser.add_argument("--services-per-member", type=float, default=5.0)
    parser.add_argument("--sizes", default="0.5,1", help="fractions of the full size, comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep the last database (to profile it)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or "/tmp/gjrem-data"
    results = []
    for fraction in [float(f) for f in args.sizes.split(",")]:
        members, resolutions = int(args.members * fraction), int(args.resolutions * fraction)
        meetings = int(args.meetings * fraction)
        log(f"--- size {fraction}: {members} members, {resolutions} resolutions, {meetings} meetings")
        app, drop = build(args.database_url, data_dir, members, resolutions, meetings,
                          int(members * args.services_per_member))
        try:
            now = scan_moment()
            first = timed_scan(app, now)
            second = timed_scan(app, now)
        finally:
            if not args.keep:
                drop()
        claimed = sum(c.claimed for c in first[2].rules.values())
        results.append((members, resolutions, meetings, first, second, claimed))
        log(f"first scan {first[0]:.2f} s, {first[1]} statements, {claimed} reminders claimed, "
            f"{first[2].sent} sent; second scan {second[0]:.2f} s, {second[1]} statements, {second[2].sent} sent")
        for code, count in first[2].rules.items():
            print(f"    {code:24} claimed {count.claimed:7} sent {count.sent:7}")
    backend = args.database_url.split(":", 1)[0]
    print(f"\n{backend}: members | resolutions | meetings | first scan s | statements | reminders | "
          f"second scan s | statements")
    for members, resolutions, meetings, first, second, claimed in results:
        print(f"  {members:>7} | {resolutions:>6} | {meetings:>5} | {first[0]:6.2f} | {first[1]:4} | {claimed:6} | "
              f"{second[0]:6.2f} | {second[1]:4}")


if __name__ == "__main__":
    main()
