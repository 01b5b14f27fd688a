"""Export jobs (导出任务): a file built in the background by Celery for one user.

A job belongs to its requester; only they (and auditors, for the record) see it, and only the
requester ever gets its file. Its state moves pending → running → done | failed;
``rows_done`` / ``rows_total`` feed the progress bar, and
``heartbeat_at`` lets the sweeper fail a job whose worker died. The file lives under the data dir
(``file_path`` is relative to it) until ``expires_at``.
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import relationship

from .base import Choices, utcnow

EXPORT_STATES = Choices(
    ("pending", _l("Waiting")),
    ("running", _l("Running")),
    ("done", _l("Done")),
    ("failed", _l("Failed")),
    ("expired", _l("Expired")),
)
EXPORT_FORMATS = Choices(
    ("csv", "CSV"),
    ("xlsx", "XLSX"),
    ("zip", "ZIP"),
)
EXPORT_KINDS = Choices(
    ("list", _l("List")),
    ("report", _l("Statistics report")),
    ("letters", _l("Feedback letters")),
)
FINISHED_STATES = ("done", "failed", "expired")


class ExportJob(Model):
    __tablename__ = "export_job"

    id = Column(Integer, primary_key=True)
    kind = Column(String(10), nullable=False, default="list")
    resource = Column(String(50), nullable=False)
    format = Column(String(10), nullable=False)
    filters = Column(Text)  # JSON: [{"col", "opr", "value"}] as in the resource's API
    params = Column(Text)  # JSON: order, report period and area...
    state = Column(String(10), nullable=False, default="pending")
    rows_done = Column(Integer, nullable=False, default=0)
    rows_total = Column(Integer)
    row_count = Column(Integer)
    file_name = Column(String(200))
    file_path = Column(String(500))
    file_size = Column(BigInteger)
    error = Column(Text)
    via = Column(String(10), nullable=False, default="web")
    task_id = Column(String(50))
    worker = Column(String(200))
    # The file shows personal data in full: the list has personal fields and the requester held
    # ``can_view PersonalData`` when asking. Its file is then refused (404) to them once they no
    # longer hold it (app/exports/access.py download_refusal).
    personal_data_unmasked = Column(Boolean, nullable=False, default=False, server_default=false())
    created_by_id = Column(Integer, ForeignKey(User.id, ondelete="CASCADE"), nullable=False)
    created_by = relationship(User)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    started_at = Column(DateTime)
    heartbeat_at = Column(DateTime)
    finished_at = Column(DateTime)
    expires_at = Column(DateTime)

    __table_args__ = (
        Index("ix_export_job_created_by", "created_by_id", "id"),
        Index("ix_export_job_state", "state"),
    )

    @property
    def finished(self):
        return self.state in FINISHED_STATES

    @property
    def percent(self):
        if self.state == "done":
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * (self.rows_done or 0) / self.rows_total))

    # The list screen's computed cells (views/export_job.py formats them from the job).
    @property
    def progress(self):
        return self

    @property
    def download(self):
        return self

    @property
    def title(self):
        return self

    def __repr__(self):
        return f"#{self.id} {self.resource}.{self.format}"
