"""When a delivery may go out: now, at the end of the chat's quiet hours, or with its daily digest.

Held deliveries (quiet hours, digest) are bundles: the worker sends each chat's due bundle as one message.
A universe-wide kind's delivery (the weekly scan digest, with its image) is held the same way but never
bundled: it goes out on its own when its time comes.
Times are the chat's local time (its IANA zone), so a 07:00 quiet-hours end follows daylight saving.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.alerts.kinds import universe_wide
from bot.store.alert_records import Recipient, Release

log = logging.getLogger(__name__)

DIGEST_TIME = time(8, 0)  # a chat's daily digest goes out at this local time, or when its quiet hours end


def release_for(recipient: Recipient, now: datetime) -> Release:
    zone = _zone(recipient.timezone)
    local = now.astimezone(zone)
    quiet = recipient.quiet_hours
    alone = bool(recipient.kinds) and all(universe_wide(kind) for kind in recipient.kinds)
    if recipient.digest:
        return Release(_next_local(local, quiet.end if quiet else DIGEST_TIME, zone), bundle=not alone)
    if quiet is not None and quiet.contains(local.time()):
        return Release(_next_local(local, quiet.end, zone), bundle=not alone)
    return Release(now, bundle=False)


def _next_local(local: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The next moment after `local` when the chat's clock shows `at`, in UTC."""
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(UTC)


@cache
def _zone(name: str) -> ZoneInfo:
    """The chat's zone. Zones are checked when a chat sets them; one this machine's time zone database no
    longer knows (an old tzdata, a hand-edited row) falls back to UTC — and says so, once per zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("time zone %r is unknown to this machine's tz database; quiet hours and digests of chats "
                    "using it follow UTC until it is set again with /tz", name[:64])
        return ZoneInfo("UTC")
