"""The calendar of the statistics: the district's today, quarters, and periods written as "2026"
or "2026Q3". Pure date arithmetic (no database), so every screen, report, reminder and letter
cuts its periods the same way.

Dates are the district's local dates (Asia/Shanghai), whatever the server's time zone: a report,
a home page and a reminder scan judging "today" at 07:00 in the district all mean the same day.
Timestamps are stored as naive UTC (models/base.py): ``utc_day_start`` gives the UTC moment a
local day begins, for comparing a stored timestamp with a local date.
"""
import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from models.base import LOCAL_TIMEZONE, local_now

# A period of up to this many days is measured against the quarterly quota, a longer one against
# the yearly quota (the longest calendar quarter has 92 days; 93 leaves a day to spare).
QUARTER_DAYS = 93
PERIOD_LABEL = re.compile(r"^(\d{4})(?:Q([1-4]))?$")


def today(now=None):
    """The district's local date at ``now`` (naive UTC; default: this moment)."""
    return local_now(now).date()


def utc_day_start(day):
    """The naive UTC moment at which the local ``day`` begins (00:00 in the district)."""
    local = datetime.combine(day, time.min, tzinfo=ZoneInfo(LOCAL_TIMEZONE))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def quarter_label(day):
    """"2026Q4": the calendar quarter holding ``day``."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_of(day):
    """(label, first day, last day) of the calendar quarter holding ``day``."""
    label = quarter_label(day)
    return (label, *period_bounds(label))


def quarter_bounds(day=None):
    """(first day, last day) of the calendar quarter holding ``day`` (default: today)."""
    return quarter_of(day or today())[1:]


def period_bounds(label):
    """(first day, last day) of a year ("2026") or a quarter ("2026Q3"); ValueError otherwise."""
    match = PERIOD_LABEL.match(str(label).strip().upper())
    if match is None:
        raise ValueError(f"not a year or a quarter: {label!r}")
    year, quarter = int(match.group(1)), match.group(2)
    if quarter is None:
        return date(year, 1, 1), date(year, 12, 31)
    first_month = 3 * int(quarter) - 2
    next_start = date(year + 1, 1, 1) if first_month == 10 else date(year, first_month + 3, 1)
    return date(year, first_month, 1), next_start - timedelta(days=1)


def evaluation_periods(start, end):
    """The period labels ("2026", "2026Q3") whose whole span lies inside [start, end], each year
    followed by its quarters."""
    labels = []
    for year in range(start.year, end.year + 1):
        for label in [str(year)] + [f"{year}Q{q}" for q in range(1, 5)]:
            first, last = period_bounds(label)
            if first >= start and last <= end:
                labels.append(label)
    return labels


def quota_kind(start, end):
    """The ServiceQuota period a span is measured against: "quarter" up to QUARTER_DAYS days,
    else "year"."""
    return "quarter" if (end - start).days + 1 <= QUARTER_DAYS else "year"
