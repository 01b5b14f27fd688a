"""A separate process writing business records, for the parallel-writer audit test (spawned, so
it shares nothing with the test process but the database)."""


def write_records(database_url, data_dir, count, tag, area_id):
    import pathlib

    from app.core.actor import acting_as
    from app.extensions import db
    from models import Unit
    from tests.conftest import make_app

    app = make_app(pathlib.Path(data_dir), database_url)
    with app.app_context():
        for i in range(count):
            with acting_as(None, via="task"):
                db.session.add(Unit(name=f"并发单位{tag}-{i}", unit_type="private", area_id=area_id, member_count=i))
                db.session.commit()
                unit = db.session.query(Unit).filter_by(name=f"并发单位{tag}-{i}").one()
                unit.member_count += 1
                db.session.commit()
        db.engine.dispose()
    return count
