"""Ads (spec 6.3): campaigns funded from an advertiser's points, and the events they pay for."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

SURFACE_TYPES = ("banner", "video", "interstitial", "native", "rewarded")
EVENT_TYPES = ("impression", "click")


class AdEvent(Aggregate):
    """One impression or click an app reported for a user; what it paid, if anything."""

    class Recorded(Aggregate.Created):
        """The app reported the event; `payout_rate_snapshot` is what the app was paid (0 for
        an unpaid event: over the hourly cap, a second impression of one serve, no budget)."""

        campaign_id: UUID
        app_id: UUID
        user_id: UUID
        event_type: str
        surface_type: str
        serve_id: UUID | None
        payout_rate_snapshot: int
        user_reward_snapshot: int

    @event(Recorded)
    def __init__(
        self,
        campaign_id: UUID,
        app_id: UUID,
        user_id: UUID,
        event_type: str,
        surface_type: str,
        serve_id: UUID | None,
        payout_rate_snapshot: int,
        user_reward_snapshot: int,
    ) -> None:
        self.campaign_id = campaign_id
        self.app_id = app_id
        self.user_id = user_id
        self.event_type = event_type
        self.surface_type = surface_type
        self.serve_id = serve_id
        self.payout_rate_snapshot = payout_rate_snapshot
        self.user_reward_snapshot = user_reward_snapshot
