"""Ads (spec 6.3): campaigns funded from an advertiser's points, and the events they pay for.

The rules live here, free of storage: how a budget splits into rake and campaign money, and
what the next payout of a campaign costs. Serves and the hourly cap are in `ledger.ad_delivery`.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.accounts import MAX_AMOUNT, check_amount
from ledger.errors import ConflictError, ValidationError

SURFACE_TYPES = ("banner", "video", "interstitial", "native", "rewarded")
EVENT_TYPES = ("impression", "click")
REWARDED = "rewarded"
IMPRESSION = "impression"
# The treasury keeps a tenth of every funding (integer division: a budget under 10 pays none).
RAKE_DIVISOR = 10
MAX_NAME_LENGTH = 100
MAX_TIER_LENGTH = 64
MAX_URL_LENGTH = 2_000


def split_budget(budget: int) -> tuple[int, int]:
    """(rake, what the campaign gets) for an advertiser's `budget`."""
    check_amount(budget, "budget")
    rake = budget // RAKE_DIVISOR
    return rake, budget - rake


def check_surface(surface_type: str, field: str = "surface_type") -> str:
    if surface_type not in SURFACE_TYPES:
        raise ValidationError({field: [f"must be one of {', '.join(SURFACE_TYPES)}"]})
    return surface_type


def check_event_type(event_type: str) -> str:
    if event_type not in EVENT_TYPES:
        raise ValidationError({"event_type": [f"must be one of {', '.join(EVENT_TYPES)}"]})
    return event_type


def check_reward(user_reward: object) -> int:
    """A user reward is an integer from 0 (none) to MAX_AMOUNT."""
    if user_reward == 0 and not isinstance(user_reward, bool):
        return 0
    return check_amount(user_reward, "user_reward")


def _check_text(value: str | None, field: str, limit: int, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if value is None or not 1 <= len(value) <= limit:
        raise ValidationError({field: [f"must be 1 to {limit} characters"]})


@dataclass(frozen=True)
class CampaignTerms:
    """What an advertiser buys: where the ad shows, and what each paid event pays."""

    name: str
    surface_type: str
    payout_rate: int
    user_reward: int
    creative_url: str | None = None
    bitcoin_tier: str | None = None

    def checked(self) -> CampaignTerms:
        """These terms, or a ValidationError naming the first bad field."""
        _check_text(self.name, "name", MAX_NAME_LENGTH, required=True)
        check_surface(self.surface_type)
        check_amount(self.payout_rate, "payout_rate")
        check_reward(self.user_reward)
        _check_text(self.creative_url, "creative_url", MAX_URL_LENGTH)
        _check_text(self.bitcoin_tier, "bitcoin_tier", MAX_TIER_LENGTH)
        if self.cost_of_next_payout > MAX_AMOUNT:
            raise ValidationError({"user_reward": ["payout_rate + user_reward is too large"]})
        return self

    @property
    def cost_of_next_payout(self) -> int:
        return cost_of_next_payout(self.surface_type, self.payout_rate, self.user_reward)


def cost_of_next_payout(surface_type: str, payout_rate: int, user_reward: int) -> int:
    """What the costliest paid event takes from the budget: a rewarded impression pays the
    user too. A campaign whose balance is below this is exhausted."""
    return payout_rate + (user_reward if surface_type == REWARDED else 0)


class Campaign(Aggregate):
    """An advertiser's campaign; its money is the balance of the `campaign:<id>` account."""

    class Launched(Aggregate.Created):
        """The advertiser funded the campaign in journal entry `entry_id`: `budget` points went
        to the campaign and `rake` to revenue."""

        advertiser_user_id: UUID
        name: str
        surface_type: str
        creative_url: str | None
        payout_rate: int
        user_reward: int
        budget: int
        rake: int
        bitcoin_tier: str | None
        entry_id: UUID

    @event(Launched)
    def __init__(  # noqa: PLR0913, PLR0917 - the event carries every fact of the launch
        self,
        id: UUID,  # noqa: A002 - the library's name for an explicit aggregate id
        advertiser_user_id: UUID,
        name: str,
        surface_type: str,
        creative_url: str | None,
        payout_rate: int,
        user_reward: int,
        budget: int,
        rake: int,
        bitcoin_tier: str | None,
        entry_id: UUID,
    ) -> None:
        self.advertiser_user_id = advertiser_user_id
        self.name = name
        self.surface_type = surface_type
        self.creative_url = creative_url
        self.payout_rate = payout_rate
        self.user_reward = user_reward
        self.budget = budget
        self.rake = rake
        self.bitcoin_tier = bitcoin_tier
        self.entry_id = entry_id
        self.closed = False
        self.refunded = 0

    class Closed(Aggregate.Event):
        """An admin closed the campaign: it is served and paid no more, and the `refunded`
        points left in it went back to the advertiser (in the same transaction)."""

        refunded: int

    def close(self, refunded: int) -> None:
        """Close the campaign, giving back `refunded` points; a closed one cannot close again."""
        if self.closed:
            raise ConflictError("The campaign is already closed.")
        self._closed(refunded)

    @event(Closed)
    def _closed(self, refunded: int) -> None:
        self.closed = True
        self.refunded = refunded

    @classmethod
    def launch(
        cls,
        campaign_id: UUID,
        advertiser_user_id: UUID,
        terms: CampaignTerms,
        funding: int,
        entry_id: UUID,
    ) -> Campaign:
        """A campaign on checked `terms`, funded with `funding` points in entry `entry_id`."""
        rake, budget = split_budget(funding)
        return cls(
            id=campaign_id,
            advertiser_user_id=advertiser_user_id,
            name=terms.name,
            surface_type=terms.surface_type,
            creative_url=terms.creative_url,
            payout_rate=terms.payout_rate,
            user_reward=terms.user_reward,
            budget=budget,
            rake=rake,
            bitcoin_tier=terms.bitcoin_tier,
            entry_id=entry_id,
        )

    @property
    def cost_of_next_payout(self) -> int:
        return cost_of_next_payout(self.surface_type, self.payout_rate, self.user_reward)

    @property
    def status_at_launch(self) -> str:
        """`active`, or `exhausted` when the budget cannot pay even one event."""
        return "active" if self.budget >= self.cost_of_next_payout else "exhausted"

    def payout_for(self, event_type: str) -> Payout:
        """What a paid event of `event_type` moves: to the app, and to the viewing user."""
        rewarded = event_type == IMPRESSION and self.surface_type == REWARDED
        return Payout(self.payout_rate, self.user_reward if rewarded else 0)


@dataclass(frozen=True)
class Payout:
    """The points one ad event moves out of its campaign (both 0: an unpaid event)."""

    to_app: int
    to_user: int

    @property
    def total(self) -> int:
        return self.to_app + self.to_user


UNPAID = Payout(0, 0)


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
