"""UPDATE_SCHEDULE and UPDATE_SPREAD as the updater timer's drop-in.

UPDATE_SCHEDULE is a systemd calendar expression (`hourly`, `*:17`, `Mon..Fri 03:00`); a 5-field
cron schedule (what earlier versions took) is converted for the common forms: numbers, `*`,
lists, ranges and `*/n` steps. UPDATE_SPREAD is the timer's RandomizedDelaySec, drawn anew at
every run, so a fleet's hosts never all swap in the same minute.
"""

from __future__ import annotations

import re

from .errors import ConfigError

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\d+(-\d+)?)(/\d+)?)*$")


def _field(value: str, first: int, width: int) -> str:
    """One cron field in systemd's calendar syntax."""
    parts = []
    for part in value.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            base = "*" if not step else f"{first:0{width}d}"
        elif "-" in base:
            low, high = base.split("-")
            base = f"{int(low):0{width}d}..{int(high):0{width}d}"
        else:
            base = f"{int(base):0{width}d}"
        parts.append(f"{base}/{step}" if step else base)
    return ",".join(parts)


def _days(value: str) -> str:
    if value == "*":
        return ""
    names = []
    for part in value.split(","):
        if "/" in part:
            raise ConfigError(f"day-of-week steps ({part!r}) have no calendar form: use a systemd calendar expression")
        low, _, high = part.partition("-")
        names.append(f"{DAYS[int(low)]}..{DAYS[int(high)]}" if high else DAYS[int(low)])
    return ",".join(names) + " "


def calendar(schedule: str) -> str:
    """The OnCalendar= value for UPDATE_SCHEDULE (a cron schedule is converted)."""
    schedule = " ".join(schedule.split())
    if not schedule or "\n" in schedule or "=" in schedule:
        raise ConfigError(f"UPDATE_SCHEDULE={schedule!r} is not a calendar expression")
    fields = schedule.split(" ")
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        return schedule
    minute, hour, dom, month, dow = fields
    try:
        return (f"{_days(dow)}*-{_field(month, 1, 2)}-{_field(dom, 1, 2)} "
                f"{_field(hour, 0, 2)}:{_field(minute, 0, 2)}:00")
    except (IndexError, ValueError):
        raise ConfigError(f"UPDATE_SCHEDULE={schedule!r}: a cron field is out of range") from None


def dropin(on_calendar: str, spread: str) -> str:
    """The timer drop-in: the schedule replaces the unit's own, the spread is drawn per run."""
    return ("# Written by `inference-update schedule` from UPDATE_SCHEDULE and UPDATE_SPREAD\n"
            "# (defaults.env, inference.env); every boot and every run rewrites it.\n"
            f"[Timer]\nOnCalendar=\nOnCalendar={on_calendar}\nRandomizedDelaySec={spread}\n")
