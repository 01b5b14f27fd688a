"""Export speed and memory on a large district (issue 6): the real export task against the
database's own raw dump of the same rows.

    python bench/bench_exports.py --database-url sqlite:////tmp/gjbench/gongjian.sqlite
    python bench/bench_exports.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/gjbench

Data: bench/seed_large.py (1,000,000 service records). The exporting user is ``district1``, a
street-admin-role account scoped to the district's root area: every row is in scope but the scope
clause is applied, and personal data is masked (that role may not see it). For each format the
export job is created as the 导出 button would, then ``tasks.exports.run_export`` runs in a fresh
child process (Celery's ``apply``: the task class, the app context, the heartbeat thread — all of
it) whose peak RSS is read from the kernel. In the same run, the raw dump of the same rows and
columns without masking, labels or the formula guard: on SQLite a sqlite3 cursor into
``csv.writer``, on PostgreSQL ``COPY (SELECT …) TO STDOUT`` through psycopg.

Targets: CSV ≥ 50% of the raw dump on SQLite, ≥ 40% on PostgreSQL; XLSX ≥ 10,000 rows/s; peak
memory ≤ 300 MB and not growing with the row count (``--limit`` runs a smaller export to compare).
"""
import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_large import make_app  # noqa: E402  (the same app factory as the seed)

BENCH_USER = "district1"
RAW_SQL = (
    "SELECT sr.served_on, m.name, u.name, sr.content, sr.hours, sr.points, sr.verified_by "
    "FROM service_record sr LEFT JOIN party_member m ON m.id = sr.member_id "
    "LEFT JOIN unit u ON u.id = sr.unit_id ORDER BY sr.id DESC"
)


def ensure_bench_user(app):
    """A district-wide account whose role may not see personal data (so exports are masked)."""
    from app.extensions import db
    from models import Area, UserScope

    sm = app.appbuilder.sm
    user = sm.find_user(username=BENCH_USER)
    if user is None:
        user = sm.add_user(BENCH_USER, "区级", "管理员", f"{BENCH_USER}@bench.invalid", sm.find_role("StreetAdmin"),
                           app.config["DEMO_PASSWORD"])
    root = db.session.query(Area).filter(Area.parent_id.is_(None)).order_by(Area.id).first()
    if user.scope is None:
        db.session.add(UserScope(user=user, area=root))
        db.session.commit()
    return user


def create_job(app, fmt):
    """The job the 导出 button would create (without queueing it: the child runs it)."""
    from app.extensions import db
    from models import ExportJob

    user = ensure_bench_user(app)
    job = ExportJob(kind="list", resource="service_record", format=fmt, state="pending", rows_done=0,
                    filters="[]", params="{}", via="cli", created_by_id=user.id)
    db.session.add(job)
    db.session.commit()
    return job.id


def child(job_id, limit):
    """In the child process: run the real task on one job, print its figures as JSON."""
    app = make_app(os.environ["DATABASE_URL"], os.environ["GONGJIAN_DATA_DIR"])
    if limit:
        limit_rows(limit)
    with app.app_context():
        from app.celery_app import init_celery
        from app.extensions import db
        from models import ExportJob
        from tasks.exports import run_export

        init_celery(app)
        started = time.perf_counter()
        run_export.apply(args=(job_id,))
        seconds = time.perf_counter() - started
        job = db.session.get(ExportJob, job_id)
        path = os.path.join(app.config["DATA_DIR"], job.file_path) if job.file_path else None
        print(json.dumps({"state": job.state, "error": job.error, "rows": job.row_count, "seconds": seconds,
                          "bytes": os.path.getsize(path) if path else 0,
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def limit_rows(limit):
    """For the memory comparison: the same export of only the first ``limit`` rows."""
    from app.exports import query as export_query

    statement = export_query.ListExport.statement
    export_query.ListExport.statement = lambda self: statement(self).limit(limit)
    export_query.ListExport.count = lambda self: limit


def run_child(job_id, limit):
    args = [sys.executable, os.path.abspath(__file__), "--child", str(job_id)]
    if limit:
        args += ["--limit", str(limit)]
    output = subprocess.run(args, check=True, capture_output=True, text=True, env=os.environ).stdout
    return json.loads(output.strip().splitlines()[-1])


def raw_dump(database_url, out_path):
    """The database's own dump of the same rows: the speed limit to compare with."""
    started = time.perf_counter()
    rows = 0
    if database_url.startswith("sqlite"):
        import sqlite3

        connection = sqlite3.connect(database_url.split("sqlite:///", 1)[1])
        with open(out_path, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            cursor = connection.execute(RAW_SQL)
            while batch := cursor.fetchmany(5000):
                writer.writerows(batch)
                rows += len(batch)
        connection.close()
    else:
        import psycopg

        url = database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as connection, open(out_path, "wb") as out:
            with connection.cursor() as cursor:
                with cursor.copy(f"COPY ({RAW_SQL}) TO STDOUT WITH (FORMAT csv)") as copy:
                    for block in copy:
                        out.write(block)
                rows = cursor.rowcount
    return rows, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--data-dir", default="/tmp/gjbench-data")
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--limit", type=int, default=0, help="export only this many rows (memory comparison)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.limit)
    app = make_app(args.database_url, args.data_dir)
    with app.app_context():
        jobs = {fmt: create_job(app, fmt) for fmt in args.formats.split(",")}
    backend = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    with tempfile.TemporaryDirectory() as tmp:
        raw_rows, raw_seconds = raw_dump(args.database_url, os.path.join(tmp, "raw.csv"))
    raw_rate = raw_rows / raw_seconds
    print(f"{backend}: raw dump {raw_rows:,} rows in {raw_seconds:.1f} s = {raw_rate:,.0f} rows/s")
    for fmt, job_id in jobs.items():
        figures = run_child(job_id, args.limit)
        if figures["state"] != "done":
            raise SystemExit(f"{fmt} export failed: {figures['error']}")
        rate = figures["rows"] / figures["seconds"]
        print(f"{backend}: {fmt.upper()} export {figures['rows']:,} rows in {figures['seconds']:.1f} s = "
              f"{rate:,.0f} rows/s ({rate / raw_rate:.0%} of raw), file {figures['bytes'] / 1e6:.0f} MB, "
              f"worker peak RSS {figures['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
