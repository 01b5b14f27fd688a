"""The district's clock and calendar, defined once: the stored time (naive UTC), the district's
local time and date (Asia/Shanghai, whatever the server's time zone), and the span of a period
written as a year ("2026") or a quarter ("2026Q3"). Pure date arithmetic: it imports no model,
so the models, the format rules and the statistics all build on it.
"""
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

LOCAL_TIMEZONE = "Asia/Shanghai"
PERIOD_LABEL = re.compile(r"^(\d{4})(?:Q([1-4]))?$")


def utcnow():
    """Naive UTC timestamp: stored UTC everywhere, shown in Asia/Shanghai."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def local_now(now=None):
    """``now`` (naive UTC, default: this moment) as the district's naive local time."""
    now = now or utcnow()
    return now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(LOCAL_TIMEZONE)).replace(tzinfo=None)


def today(now=None):
    """The district's local date at ``now`` (naive UTC; default: this moment). On a UTC server
    the server's date differs from 00:00 to 08:00 local time."""
    return local_now(now).date()


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
