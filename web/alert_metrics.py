"""Time to acknowledge and to resolve alerts as Prometheus histograms, per team and severity.

The gateway and central state the same facts about the alerts each holds (``onestop.alert_history``), read
from the store at scrape time like every other metric of theirs: a histogram over the alerts held, not a
process-local tally that a restart or a second worker would get wrong. An alert removed by retention or an
erasure leaves the histogram (Prometheus sees a reset).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import HistogramMetricFamily

from onestop.alert_history import Response, group_times, histogram


def response_time_families(prefix: str, responses: Iterable[Response]) -> Iterator[HistogramMetricFamily]:
    """``{prefix}_alert_acknowledge_seconds`` and ``{prefix}_alert_resolve_seconds``."""
    groups = group_times(responses)
    for index, (name, text) in enumerate((
            ("acknowledge", "Seconds from an alert being raised to its first acknowledge or resolve by a person"),
            ("resolve", "Seconds from an alert being raised to the resolve that closed it"))):
        family = HistogramMetricFamily(f"{prefix}_alert_{name}_seconds", text, labels=["team", "severity"])
        for (team, severity), (_count, acks, resolves) in sorted(groups.items()):
            buckets, total = histogram((acks, resolves)[index])
            family.add_metric([team, severity], buckets, total)
        yield family
