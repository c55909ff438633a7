"""Delivering ads (spec 6.3): serves, the hourly cap, and whether a reported event is paid."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.ads import IMPRESSION, UNPAID, Campaign, Payout
from ledger.errors import ConflictError, IdempotencyConflictError, ValidationError
from ledger.ids import derived_id

# Paid events per user, per campaign, per UTC clock hour (spec 6.3).
MAX_PAID_EVENTS_PER_HOUR = 60


def quota_hour(moment: datetime) -> str:
    """The UTC clock hour a paid event counts in, e.g. `2026-05-22T12`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


class AdServe(Aggregate):
    """One ad served to a user in an app; its id is the `serve_id` the app reports back."""

    class Served(Aggregate.Created):
        """The campaign's ad was handed to the app for the user."""

        campaign_id: UUID
        app_id: UUID
        user_id: UUID
        surface_type: str

    class ImpressionPaid(Aggregate.Event):
        """The one paid impression of this serve was the ad event `ad_event_id`."""

        ad_event_id: UUID

    @event(Served)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library's name for an explicit aggregate id
        campaign_id: UUID,
        app_id: UUID,
        user_id: UUID,
        surface_type: str,
    ) -> None:
        self.campaign_id = campaign_id
        self.app_id = app_id
        self.user_id = user_id
        self.surface_type = surface_type
        self.paid_impression: UUID | None = None

    def check_reported_by(self, campaign_id: UUID, app_id: UUID, user_id: UUID) -> None:
        """A serve is reported only for its own campaign, by its own app, for its own user."""
        if (self.campaign_id, self.app_id, self.user_id) != (campaign_id, app_id, user_id):
            raise ValidationError({"serve_id": ["was not served for this campaign, app and user"]})

    def pay_impression(self, ad_event_id: UUID) -> None:
        if self.paid_impression is not None:
            raise ConflictError("This serve's impression was already paid.")
        self._impression_paid(ad_event_id)

    @event(ImpressionPaid)
    def _impression_paid(self, ad_event_id: UUID) -> None:
        self.paid_impression = ad_event_id


class AdQuota(Aggregate):
    """Paid events of one user for one campaign in one UTC hour: at most 60."""

    class Opened(Aggregate.Created):
        """The first paid event of this user, campaign and hour."""

        user_id: UUID
        campaign_id: UUID
        hour: str

    class EventCounted(Aggregate.Event):
        """Ad event `ad_event_id` was paid; `paid` is the count after it."""

        ad_event_id: UUID
        paid: int

    @staticmethod
    def create_id(user_id: UUID, campaign_id: UUID, hour: str) -> UUID:
        return ad_quota_id(user_id, campaign_id, hour)

    @event(Opened)
    def __init__(self, user_id: UUID, campaign_id: UUID, hour: str) -> None:
        self.user_id = user_id
        self.campaign_id = campaign_id
        self.hour = hour
        self.paid = 0

    @property
    def has_room(self) -> bool:
        return self.paid < MAX_PAID_EVENTS_PER_HOUR

    def count_paid(self, ad_event_id: UUID) -> None:
        if not self.has_room:
            raise ConflictError("The hourly cap of paid ad events is reached.")
        self._counted(ad_event_id, self.paid + 1)

    @event(EventCounted)
    def _counted(self, ad_event_id: UUID, paid: int) -> None:
        self.paid = paid


def ad_quota_id(user_id: UUID, campaign_id: UUID, hour: str) -> UUID:
    """The aggregate id of one user's paid events for one campaign in one UTC hour."""
    return derived_id("ad-quota", str(user_id), str(campaign_id), hour)


def decide_payout(
    campaign: Campaign,
    balance: int,
    event_type: str,
    quota: AdQuota,
    serve: AdServe | None,
) -> Payout:
    """What one reported event is paid, given the campaign's balance now, the user's paid
    events this hour and the serve it reports (if any); UNPAID when a rule says no (a closed
    campaign pays nothing)."""
    if campaign.closed or balance < campaign.cost_of_next_payout or not quota.has_room:
        return UNPAID
    if event_type == IMPRESSION and serve is not None and serve.paid_impression is not None:
        return UNPAID
    return campaign.payout_for(event_type)


class AdEventKey(Aggregate):
    """The first ad event an Idempotency-Key made: its retries answer that event again."""

    class Recorded(Aggregate.Created):
        """A keyed ad event was first recorded."""

        scope: str
        key: str
        request_digest: str
        ad_event_id: UUID

    @staticmethod
    def create_id(scope: str, key: str, request_digest: str, ad_event_id: UUID) -> UUID:  # noqa: ARG004
        return ad_event_key_id(scope, key)

    @event(Recorded)
    def __init__(self, scope: str, key: str, request_digest: str, ad_event_id: UUID) -> None:
        self.scope = scope
        self.key = key
        self.request_digest = request_digest
        self.ad_event_id = ad_event_id

    def check_same_request(self, request_digest: str) -> None:
        """A key answers only the request it was first used for."""
        if request_digest != self.request_digest:
            raise IdempotencyConflictError


def ad_event_key_id(scope: str, key: str) -> UUID:
    """The aggregate id of an ad event's Idempotency-Key `key` in `scope`."""
    return derived_id("ad-event-key", scope, key)
