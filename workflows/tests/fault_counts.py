"""The one line every fault proof prints last: what reached the inbox, against what the runs say."""

from collections import Counter
from collections.abc import Iterable


def counts_line(
    *, runs: int, statuses: Counter[str], sent: int, duplicates: int, unknown: int, lost: int
) -> str:
    return (
        f"runs {runs}: {dict(statuses)}; sent {sent}, duplicates {duplicates}, unknown {unknown}, lost {lost}"
    )


def duplicates_in(recipients: Iterable[str]) -> int:
    """Emails beyond the first to each recipient (every run in a proof has its own)."""
    return sum(count - 1 for count in Counter(recipients).values() if count > 1)
