"""The calendar of the statistics: quarters, the periods an evaluation or a quota covers, and the
UTC moment a local day begins, built on the district's clock of app/core/calendar.py (today, the
span of "2026" or "2026Q3"). Pure date arithmetic (no database), so every screen, report,
reminder and letter cuts its periods the same way.

Dates are the district's local dates (Asia/Shanghai), whatever the server's time zone: a report,
a home page and a reminder scan judging "today" at 07:00 in the district all mean the same day.
Timestamps are stored as naive UTC: ``utc_day_start`` gives the UTC moment a local day begins,
for comparing a stored timestamp with a local date.
"""
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from app.core.calendar import LOCAL_TIMEZONE, period_bounds, today

# A period of up to this many days is measured against the quarterly quota, a longer one against
# the yearly quota (the longest calendar quarter has 92 days; 93 leaves a day to spare).
QUARTER_DAYS = 93


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
