"""The moment of a reminder scan: ``now`` (naive UTC) and what it means in the district — its date,
its quarter and month, as the business calendar (app/statistics/definitions.py) cuts them."""
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from app.core.calendar import LOCAL_TIMEZONE
from app.statistics import definitions as defs


def parse_moment(text):
    """An ISO date-time from the command line: local time unless it names its offset; → naive UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(LOCAL_TIMEZONE))
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@dataclass
class Moment:
    """Everything a scan needs to know about ``now``: the district's date and its quarter."""

    now: datetime
    today: date = None
    quarter: str = ""
    quarter_start: date = None
    quarter_end: date = None
    month: str = ""

    def __post_init__(self):
        self.today = defs.today(self.now)
        self.quarter, self.quarter_start, self.quarter_end = defs.quarter_of(self.today)
        self.month = f"{self.today:%Y-%m}"

    def day_start(self, day):
        return datetime.combine(day, time.min)

