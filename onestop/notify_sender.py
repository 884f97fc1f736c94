"""The one place that talks to Apprise: send one message to one target URL, say how it went.

Apprise's own retries stay off (ours are recorded, one row per try, and wait on the caller's clock); its
errors and log lines are turned into an ``Outcome`` here, with the URL cut out of every reason, so no
Apprise type leaves this module.

Trusting a private CA (a campus mail server's STARTTLS certificate, an HTTPS webhook): Apprise verifies
with Python's default context, which reads ``SSL_CERT_FILE`` (and ``REQUESTS_CA_BUNDLE`` for web hooks);
point those at the CA bundle in the service's environment. Verification is never turned off here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from onestop.notifications import Message, scrub

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one try went: ``ok``, else a short reason without secrets."""

    ok: bool
    detail: str = ""


class AppriseSender:
    """Sends one message to one Apprise URL per call; safe to call from several threads."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    @staticmethod
    def warm_up(urls: list[str]) -> None:
        """Load Apprise and the plug-ins of ``urls`` now (over a second, measured), not while the first
        urgent alert waits; nothing is sent."""
        import apprise

        for url in urls:
            try:
                apprise.Apprise().add(url)
            except Exception:  # a broken plug-in shows on the first real try, recorded there
                log.warning("notification plug-in failed to load")

    def send(self, url: str, message: Message) -> Outcome:
        """One try; never raises for a failed delivery (the outcome says why)."""
        import apprise  # imported on first use: a service without targets never loads it

        sender = apprise.Apprise()
        try:
            if not sender.add(url):
                return Outcome(False, "not a usable Apprise URL")
            result = sender.notify(body=message.body, title=message.title, timeout=self.timeout_s)
        except Exception as exc:  # a plug-in's own bug must cost one try, not the notifier thread
            log.warning("notification plug-in failed: %s", exc.__class__.__name__)
            return Outcome(False, scrub(f"{exc.__class__.__name__}: {exc}", [url]))
        if result:
            return Outcome(True)
        reasons = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
        return Outcome(False, scrub("; ".join(reasons[-3:]) or "not delivered", [url]))
