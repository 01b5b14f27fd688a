"""Time the member and service-record lists (screens and REST API) on a database seeded by
bench/seed_large.py, in-process with Flask's test client (no server, no network).

    python bench/bench_lists.py --database-url sqlite:////tmp/gjbench/gongjian.sqlite
    python bench/bench_lists.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/gjbench

Each figure is requested once to warm up, then --runs times (default 7); the median, min and max
in ms and the response size are printed. Screens are fetched as a browser would after logging in
through the login form (CSRF token from the login page); the API with a JWT from
/api/v1/security/login. The target is a median of at most 100 ms per figure.

Profiling one figure:
    --profile member_list        cProfile of the figure's runs (top functions)
    --sql member_list            every SQL statement of one request with its time, and the plan
                                 (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL)
                                 of the slowest ones
"""
import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TARGET_MS = 100


def make_app(database_url, data_dir):
    os.environ["DATABASE_URL"] = database_url
    os.environ["GONGJIAN_DATA_DIR"] = data_dir
    os.environ.setdefault("GONGJIAN_ENV", "demo")
    from app import create_app

    return create_app()


def _password(app, password):
    return password or app.config["DEMO_PASSWORD"]


def screen_client(app, username, password):
    client = app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'id="csrf_token"[^>]*value="([^"]+)"', page)
    data = {"username": username, "password": password}
    if match:
        data["csrf_token"] = match.group(1)
    response = client.post("/login/", data=data)
    check = client.get("/partymemberview/list/")
    if response.status_code not in (200, 302) or check.status_code != 200:
        raise SystemExit(f"screen login as {username} failed: {response.status_code} / {check.status_code}")
    return client


def api_headers(app, username, password):
    response = app.test_client().post(
        "/api/v1/security/login", json={"username": username, "password": password, "provider": "db"})
    if response.status_code != 200:
        raise SystemExit(f"API login as {username} failed: {response.status_code} {response.get_data(as_text=True)}")
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def pick_targets(app):
    """A community of the bench district, a common name prefix, a member in the middle."""
    from sqlalchemy import func, select

    from app.extensions import db
    from models import Area, PartyMember

    with app.app_context():
        community = db.session.execute(
            select(Area.id, Area.name).where(Area.level == "community").order_by(Area.id).limit(1)).first()
        count = db.session.scalar(select(func.count()).select_from(PartyMember))
        member_id = db.session.scalar(select(PartyMember.id).order_by(PartyMember.id).offset(count // 2).limit(1))
        prefix = db.session.scalar(
            select(func.substr(PartyMember.name, 1, 1).label("s")).group_by("s").order_by(func.count().desc())
            .limit(1))
        db.session.remove()
    from models import ServiceRecord

    with app.app_context():
        service_id = db.session.execute(select(ServiceRecord.id).where(ServiceRecord.member_id == member_id)
                                        .limit(1)).scalar()
        db.session.remove()
    return {"community": community.id, "community_name": community.name, "member": member_id,
            "service": service_id,
            "prefix": prefix, "members": count}


def figures(t):
    """(name, kind, url): kind "screen" uses the session cookie, "api" the JWT."""
    from urllib.parse import quote

    c, p, m = t["community"], quote(t["prefix"]), t["member"]

    def rison(filters=""):
        return "?q=" + quote(f"({filters}page:0,page_size:20)", safe="(),:!")

    by_community = f"filters:!((col:community,opr:rel_o_m,value:{c})),"
    return [
        ("member_list", "screen", "/partymemberview/list/"),
        ("member_list_page_2000", "screen", "/partymemberview/list/?page_PartyMemberView=2000"),
        ("member_list_by_community", "screen", f"/partymemberview/list/?_flt_0_community={c}"),
        ("member_list_name_sw", "screen", f"/partymemberview/list/?_flt_0_name={p}"),
        ("member_show", "screen", f"/partymemberview/show/{m}"),
        ("api_member_list", "api", "/api/v1/party_member/" + rison()),
        ("api_member_by_community", "api", "/api/v1/party_member/" + rison(by_community)),
        ("api_member_name_sw", "api", "/api/v1/party_member/" + rison(f"filters:!((col:name,opr:sw,value:'{t['prefix']}')),")),
        ("api_member_get", "api", f"/api/v1/party_member/{m}"),
        ("api_service_list", "api", "/api/v1/service_record/" + rison()),
        ("api_service_by_community", "api", "/api/v1/service_record/" + rison(by_community)),
        ("api_service_by_member", "api", "/api/v1/service_record/" + rison(
            f"filters:!((col:member,opr:rel_o_m,value:{m})),")),
        ("api_service_page_20000", "api", "/api/v1/service_record/" + quote("(page:20000,page_size:20)",
                                                                             safe="(),:!").join(["?q=", ""])),
        ("service_list", "screen", "/servicerecordview/list/"),
        ("service_list_page_20000", "screen", "/servicerecordview/list/?page_ServiceRecordView=20000"),
        ("service_list_by_community", "screen", f"/servicerecordview/list/?_flt_0_community={c}"),
        ("service_show", "screen", f"/servicerecordview/show/{t['service']}"),
    ]


class FigureFailed(Exception):
    pass


def request(clients, kind, url):
    client, headers = clients[kind]
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise FigureFailed(f"HTTP {response.status_code} {response.headers.get('Location') or ''}".strip())
    return elapsed, len(response.get_data())


def patch_related_obj_cast():
    """Stand-in for the proposed fix of ScopedInterface.get_related_obj: cast the filter value of a
    screen's related-column filter (a string from the URL) to the key's type. Without it, PostgreSQL
    refuses `area.id = $1::VARCHAR` and the screen filter by community answers 302 + an error."""
    from app.core.scope import restrict
    from app.core.scoped_interface import ScopedInterface

    def get_related_obj(self, col_name, value):
        model = self.get_related_model(col_name)
        try:
            value = int(value)
        except (TypeError, ValueError):
            return None
        return restrict(self.session.query(model), model).filter(model.id == value).one_or_none()

    ScopedInterface.get_related_obj = get_related_obj


def measure(clients, kind, url, runs):
    request(clients, kind, url)  # warm-up
    times, size = [], 0
    for _ in range(runs):
        elapsed, size = request(clients, kind, url)
        times.append(elapsed)
    return times, size


def profile(clients, kind, url, runs, limit=30):
    request(clients, kind, url)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        request(clients, kind, url)
    profiler.disable()
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(limit)
        print(f"--- cProfile over {runs} runs, by {order} ---")
        print(out.getvalue())


def sql_trace(app, clients, kind, url, explain_top=3):
    """Every statement of one request with its duration; the plans of the slowest ones."""
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_t0"].pop()
        statements.append(((time.perf_counter() - started) * 1000, statement, parameters))

    request(clients, kind, url)
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        total, _size = request(clients, kind, url)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    # The driver's execute() may return before the rows are computed (SQLite steps lazily), so
    # every SELECT is replayed on a raw connection with fetchall to time it in full.
    replayed = []
    with app.app_context():
        with db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
            for ms, statement, params in statements:
                full = None
                if statement.lstrip().upper().startswith("SELECT"):
                    cursor = raw.cursor()
                    started = time.perf_counter()
                    cursor.execute(statement, params)
                    cursor.fetchall()
                    full = (time.perf_counter() - started) * 1000
                    cursor.close()
                replayed.append((ms, full, statement, params))
            sql_ms = sum((full if full is not None else ms) for ms, full, _s, _p in replayed)
            print(f"--- {url}: {total:.1f} ms in all, {len(statements)} statements, "
                  f"~{sql_ms:.1f} ms in SQL (replayed with fetchall) ---")
            print(f"{'exec ms':>8} {'full ms':>8}  statement  parameters")
            for ms, full, statement, params in replayed:
                shown = "-" if full is None else f"{full:.2f}"
                print(f"{ms:8.2f} {shown:>8}  {' '.join(statement.split())[:300]}  {str(params)[:100]}")
            slowest = sorted((r for r in replayed if r[1] is not None), key=lambda r: -r[1])[:explain_top]
            for ms, full, statement, params in slowest:
                print(f"--- plan of the {full:.1f} ms statement: {' '.join(statement.split())[:160]} ...")
                cursor = raw.cursor()
                cursor.execute(explain + statement, params)
                for row in cursor.fetchall():
                    print("   ", " | ".join(str(v) for v in row))
                cursor.close()
            conn.rollback()
        db.session.remove()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", default=None, help="instance data dir (default: /tmp/gjbench-data)")
    parser.add_argument("--username", default="orgdept")
    parser.add_argument("--password", default=None, help="default: the app's DEMO_PASSWORD")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-init", action="store_true",
                        help="do not run `gongjian init` first (it brings schema and roles up to date)")
    parser.add_argument("--patch-related-filter", action="store_true",
                        help="apply the proposed int cast in ScopedInterface.get_related_obj (see README)")
    parser.add_argument("--only", action="append", help="run only these figures (repeatable)")
    parser.add_argument("--profile", metavar="FIGURE", help="cProfile one figure")
    parser.add_argument("--sql", metavar="FIGURE", help="trace the SQL of one figure and explain the slowest")
    args = parser.parse_args(argv)
    if args.runs < 5 and not (args.profile or args.sql):
        parser.error("--runs must be at least 5")

    import logging

    logging.disable(logging.WARNING)  # FAB's "Filter type not supported" noise
    app = make_app(args.database_url, args.data_dir or "/tmp/gjbench-data")
    if args.patch_related_filter:
        patch_related_obj_cast()
    if not args.skip_init:
        result = app.test_cli_runner().invoke(args=["gongjian", "init"])
        if result.exit_code != 0:
            raise SystemExit(f"gongjian init failed: {result.output} {result.exception!r}")
    password = _password(app, args.password)
    targets = pick_targets(app)
    clients = {"screen": (screen_client(app, args.username, password), None),
               "api": (app.test_client(), api_headers(app, args.username, password))}
    wanted = figures(targets)
    names = {name for name, _k, _u in wanted}
    for name in (args.only or []) + [n for n in (args.profile, args.sql) if n]:
        if name not in names:
            parser.error(f"unknown figure {name!r}; one of {sorted(names)}")
    backend = args.database_url.split(":", 1)[0].split("+", 1)[0]
    if args.profile or args.sql:
        for name, kind, url in wanted:
            if name == args.profile:
                profile(clients, kind, url, args.runs)
            if name == args.sql:
                sql_trace(app, clients, kind, url)
        return
    print(f"backend: {backend}   user: {args.username}   members: {targets['members']}   "
          f"community: {targets['community']} ({targets['community_name']})   name prefix: {targets['prefix']}   "
          f"runs: {args.runs} after 1 warm-up"
          + ("   [patched: related-filter cast]" if args.patch_related_filter else ""))
    print(f"{'figure':28} {'median ms':>10} {'min':>8} {'max':>8} {'size KB':>9}  target")
    print("-" * 75)
    for name, kind, url in wanted:
        if args.only and name not in args.only:
            continue
        try:
            times, size = measure(clients, kind, url, args.runs)
        except FigureFailed as exc:
            print(f"{name:28} {'FAILED':>10}  {exc}", flush=True)
            continue
        median = statistics.median(times)
        verdict = "ok" if median <= TARGET_MS else "SLOW"
        print(f"{name:28} {median:10.1f} {min(times):8.1f} {max(times):8.1f} {size / 1024:9.1f}  {verdict}",
              flush=True)


if __name__ == "__main__":
    main()
