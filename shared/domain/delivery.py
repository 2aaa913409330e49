"""Delivery reports: what ACS says became of an outgoing message, in the domain's words.

A report comes in as an Event Grid event (`Microsoft.Communication.SMSDeliveryReportReceived`,
parsed in `shared/inbound/delivery_events.py`) and goes out as ACS's `DeliveryReport` (the
`GET /deliveryReports/{id}` endpoint, `shared/api/delivery_reports.py`). No Azure, no HTTP here.

ACS refuses nothing at send time for a recipient it holds as opted out: it accepts the send and
the report fails with code 4007 in its details (reference §7, §10). `opted_out` finds that code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# ACS's delivery error code: "The Destination/To number has opted out of receiving messages
# from you" (a carrier-level or ACS-level opt-out).
OPTED_OUT_CODE = "4007"
_OPTED_OUT = re.compile(rf"(?<![0-9]){OPTED_OUT_CODE}(?![0-9])")

# The tag this service's keyword confirmations are sent with (ACS echoes it in their reports).
CONFIRMATION_TAG = "optout-confirmation"

# The longest outgoing message id kept or looked up (ACS's are about 60 characters).
MAX_MESSAGE_ID_LENGTH = 256


class ReportStatus(StrEnum):
    """ACS's `deliveryStatus` values."""

    DELIVERED = "Delivered"
    FAILED = "Failed"


@dataclass(frozen=True)
class DeliveryAttempt:
    timestamp: datetime
    segments_succeeded: int
    segments_failed: int


@dataclass(frozen=True)
class DeliveryReport:
    """One report: which message, between whom, and what became of it."""

    message_id: str
    sender: str  # `from` as ACS gives it (the business side)
    recipient: str  # `to` (the person)
    status: ReportStatus
    received_at: datetime  # when ACS received the report (tz-aware UTC)
    details: str = ""
    attempts: tuple[DeliveryAttempt, ...] = ()
    tag: str = ""
    partner_message_id: str = ""  # messagingConnectPartnerMessageId

    @property
    def opted_out(self) -> bool:
        """A failed delivery whose details carry ACS's opted-out code (4007)."""
        return self.status is ReportStatus.FAILED and bool(_OPTED_OUT.search(self.details))

    @property
    def is_confirmation(self) -> bool:
        return self.tag == CONFIRMATION_TAG


@dataclass(frozen=True)
class DrySend:
    """A message this service answered itself in dry run (SEND_DRY_RUN=true): never sent, kept
    so that `GET /deliveryReports/{id}` can answer for its id."""

    message_id: str
    sender: str
    recipient: str
    sent_at: datetime
    tag: str = ""
