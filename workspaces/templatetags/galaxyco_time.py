"""Times on pages say their zone: "26 Nov 2026, 14:05 UTC"."""

from datetime import datetime

from django import template
from django.utils import dateformat, timezone

register = template.Library()

FORMATS = {"minutes": "j M Y, H:i T", "seconds": "j M Y, H:i:s T", "time": "H:i:s T"}


@register.filter
def when(value: datetime | None, precision: str = "minutes") -> str:
    """A moment in the current time zone, with the zone's name; "—" for none."""
    if value is None:
        return "—"
    return dateformat.format(timezone.localtime(value), FORMATS[precision])


@register.simple_tag
def time_zone_name() -> str:
    return timezone.get_current_timezone_name()
