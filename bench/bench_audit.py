"""What auditing costs: the same 10,000 updates with the audit hooks on and off.

    .venv/bin/python bench/bench_audit.py --database-url sqlite:////tmp/gjaudit/a.sqlite --data-dir /tmp/gjaudit
    .venv/bin/python bench/bench_audit.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/gjaudit \\
        --data-dir /tmp/gjaudit-pg

Each round updates every one of N units (one ORM update and commit each, as a screen or an API
call does), once with the hooks registered and once without. The two modes take turns in blocks
of ``--block`` units (the order flipping every block), so both see the same load from whatever
else runs on the machine, and an untimed warm-up in both modes comes first (caches, compiled
statements, prepared statements), so neither pays for starting cold. Prints the median seconds per
mode over the rounds, this process's CPU seconds, and the ratio (target: auditing ≤ 1.3× slower).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_app(database_url, data_dir):
    os.makedirs(data_dir, exist_ok=True)
    os.environ.setdefault("GONGJIAN_ENV", "testing")
    from app import create_app
    from config import engine_options

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DATA_DIR": data_dir,
                       "UPLOAD_FOLDER": os.path.join(data_dir, "uploads"),
                       "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url)})


def audit_hooks(enabled):
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from app.core import audit

    hooks = [("before_flush", audit._before_flush), ("after_flush", audit._after_flush)]
    for name, fn in hooks:
        if enabled and not event.contains(Session, name, fn):
            event.listen(Session, name, fn)
        if not enabled and event.contains(Session, name, fn):
            event.remove(Session, name, fn)


def seed_units(count):
    from app.core.actor import acting_as
    from app.extensions import db
    from models import Area, Unit

    with acting_as(None, via="cli"):
        if db.session.query(Unit).filter(Unit.name.like("审计基准%")).count() >= count:
            return
        district = Area(name="基准区", level="district", code="659999")
        db.session.add(district)
        db.session.flush()
        db.session.add_all([Unit(name=f"审计基准单位{i}", unit_type="private", area=district, member_count=0)
                            for i in range(count)])
        db.session.commit()


def bench_ids(count):
    from app.extensions import db
    from models import Unit

    return [row[0] for row in db.session.query(Unit.id).filter(Unit.name.like("审计基准%"))
            .order_by(Unit.id).limit(count)]


def run_updates(ids, value):
    """One ORM update and commit per unit; returns the seconds taken."""
    from app.core.actor import acting_as
    from app.extensions import db
    from models import Unit

    started = time.perf_counter()
    with acting_as(None, via="cli"):
        for pk in ids:
            unit = db.session.get(Unit, pk)
            unit.member_count = value
            unit.address = f"基准路{value}号"
            db.session.commit()
    return time.perf_counter() - started


def api_client(app):
    """A test client signed in as the bench user, and its authorization header."""
    client = app.test_client()
    token = client.post("/api/v1/security/login", json={"username": "benchadmin", "password": BENCH_PASSWORD,
                                                        "provider": "db"}).json["access_token"]
    return client, {"Authorization": f"Bearer {token}"}


def run_api_updates(api, ids, value):
    """The same updates as a client of the REST API makes them (PUT per record)."""
    client, headers = api
    started = time.perf_counter()
    for pk in ids:
        response = client.put(f"/api/v1/unit/{pk}", json={"member_count": value, "address": f"基准路{value}号"},
                              headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
    return time.perf_counter() - started


def updater(app, via):
    """update(ids, value) for the chosen path (the API signs in afresh: tokens expire)."""
    if via == "orm":
        return run_updates
    api = api_client(app)
    return lambda ids, value: run_api_updates(api, ids, value)


def run_round(update, ids, block, value, totals):
    """Every unit once per mode, the modes taking turns block by block (alternating which goes
    first); adds wall and CPU seconds per mode to ``totals``."""
    for number, start in enumerate(range(0, len(ids), block)):
        modes = ("off", "on") if number % 2 == 0 else ("on", "off")
        for mode in modes:
            audit_hooks(mode == "on")
            cpu = time.process_time()
            totals[mode][0] += update(ids[start:start + block], value + (mode == "on"))
            totals[mode][1] += time.process_time() - cpu


BENCH_PASSWORD = "Bench-Passw0rd!"


def ensure_bench_user(app):
    sm = app.appbuilder.sm
    if sm.find_user(username="benchadmin") is None:
        sm.add_user("benchadmin", "bench", "admin", "bench@example.cn", sm.find_role("OrgDept"), BENCH_PASSWORD)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--updates", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--block", type=int, default=500, help="units per turn of a mode within a round")
    parser.add_argument("--via", choices=["orm", "api"], default="orm",
                        help="orm: one ORM update and commit per record; api: one PUT /api/v1/unit/<id> each")
    args = parser.parse_args()
    app = make_app(args.database_url, args.data_dir)
    result = app.test_cli_runner().invoke(args=["gongjian", "init"])
    assert result.exit_code == 0, result.output
    times = {"on": [], "off": []}
    cpu = {"on": [], "off": []}
    with app.app_context():
        seed_units(args.updates)
        ensure_bench_user(app)
        ids = bench_ids(args.updates)
        warm_up = ids[:min(len(ids), 2 * args.block)]
        run_round(updater(app, args.via), warm_up, args.block, 0, {"on": [0.0, 0.0], "off": [0.0, 0.0]})
        for number in range(args.rounds):
            totals = {"on": [0.0, 0.0], "off": [0.0, 0.0]}
            run_round(updater(app, args.via), ids, args.block, 2 * number + 2, totals)
            for mode, (wall, used) in totals.items():
                times[mode].append(wall)
                cpu[mode].append(used)
        audit_hooks(True)
        from app.core.audit_chain import verify_chain
        from app.extensions import db

        checked, bad, _reason = verify_chain(db.session.connection())
    backend = args.database_url.split(":", 1)[0]
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    print(f"backend: {backend}   via: {args.via}   updates: {args.updates}   rounds: {args.rounds}   block: {args.block}")
    for mode, label in (("off", "audit off:"), ("on", "audit on: ")):
        median = statistics.median(times[mode])
        print(f"{label} {median:.2f} s ({args.updates / median:,.0f} updates/s, "
              f"{statistics.median(cpu[mode]):.2f} s CPU here)   runs: {', '.join(f'{t:.2f}' for t in times[mode])}")
    print(f"ratio on/off: {on / off:.2f}  (target ≤ 1.30)   chain: {checked} entries, "
          f"{'verified' if bad is None else f'BROKEN at {bad}'}")


if __name__ == "__main__":
    main()
