"""Ad commands (spec 6.3): launch a funded campaign, serve an ad, record a reported event.

Launching is one `campaign_funding` entry saved with the Campaign; closing is its Closed event
and a `campaign_refund` entry of whatever is left. A reported event is decided
afresh on every retry from freshly loaded aggregates (the campaign's account, the user's hourly
quota, the serve) while the accounts' locks are held, and its AdEvent, quota, serve and payout
entry are saved in one transaction, so the cap and the budget hold across processes too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from commands.journal import Journal, stored_key
from commands.points import Idempotency, MovePoints, request_digest
from commands.retry import with_retries
from commands.store import BuddoStore, get_as
from ledger.accounts import REVENUE, Account, AccountKind, account_id, account_name
from ledger.ad_delivery import (
    AdEventKey,
    AdQuota,
    AdServe,
    ad_event_key_id,
    ad_quota_id,
    decide_payout,
    quota_hour,
)
from ledger.ads import (
    AdEvent,
    Campaign,
    CampaignTerms,
    Payout,
    check_event_type,
    check_surface,
    split_budget,
)
from ledger.errors import InsufficientPointsError, NotFoundError, ValidationError
from ledger.idempotency import IdempotencyKey
from ledger.ids import derived_id
from ledger.journal import EntryKind, Posting, check_postings
from ledger.users import User

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class LaunchCampaign:
    """An admin launches a campaign funded from the advertiser's points."""

    advertiser_user_id: UUID
    terms: CampaignTerms
    budget: int
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class CampaignLaunched:
    """The campaign as launched (a replay answers the same), and where its events are."""

    campaign: Campaign
    position: int
    replayed: bool


@dataclass(frozen=True)
class CloseCampaign:
    """An admin closes a campaign; what is left in it goes back to the advertiser."""

    campaign_id: UUID
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class CampaignClosed:
    """The closed campaign, how much went back, where its events are, and whether this was
    the replay of a keyed close."""

    campaign: Campaign
    refunded: int
    position: int
    replayed: bool = False


@dataclass(frozen=True)
class ServeAd:
    """Hand campaign `campaign_id`'s ad to an app for a user."""

    campaign_id: UUID
    app_id: UUID
    user_id: UUID
    surface_type: str


@dataclass(frozen=True)
class AdServed:
    serve_id: UUID
    position: int


@dataclass(frozen=True)
class RecordAdEvent:
    """An app reports an impression or a click of a campaign's ad for its user."""

    campaign_id: UUID
    app_id: UUID
    user_id: UUID
    event_type: str
    surface_type: str
    serve_id: UUID | None = None
    idempotency: Idempotency | None = None

    def digest(self) -> str:
        """SHA-256 of the command without its key: 'the same request' for a replay."""
        fields = asdict(self)
        fields.pop("idempotency")
        return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class AdEventRecorded:
    """The recorded event (what it paid is in its snapshots) and whether this was a replay."""

    event: AdEvent
    position: int
    replayed: bool


def campaign_id_for(idempotency: Idempotency | None) -> UUID:
    """A keyed launch gets the same campaign id on every retry, so its body digests alike."""
    if idempotency is None:
        return uuid4()
    return derived_id("campaign", idempotency.scope, idempotency.key)


def funding_postings(advertiser: UUID, campaign_id: UUID, budget: int) -> tuple[Posting, ...]:
    """Advertiser -budget; revenue +rake (when there is one); campaign +the rest."""
    rake, funded = split_budget(budget)
    postings = [
        Posting(account_name(AccountKind.USER, advertiser), -budget),
        Posting(account_name(AccountKind.CAMPAIGN, campaign_id), funded),
    ]
    if rake:
        postings.insert(1, Posting(REVENUE, rake))
    return tuple(postings)


def payout_postings(
    campaign: Campaign, command: RecordAdEvent, payout: Payout
) -> tuple[Posting, ...]:
    """Campaign -total; app +payout_rate; the viewing user +user_reward (rewarded only)."""
    postings = [
        Posting(account_name(AccountKind.CAMPAIGN, campaign.id), -payout.total),
        Posting(account_name(AccountKind.APP, command.app_id), payout.to_app),
    ]
    if payout.to_user:
        postings.append(Posting(account_name(AccountKind.USER, command.user_id), payout.to_user))
    return tuple(postings)


def refund_postings(campaign: Campaign, amount: int) -> tuple[Posting, ...]:
    """Campaign -amount; the advertiser +amount."""
    return (
        Posting(account_name(AccountKind.CAMPAIGN, campaign.id), -amount),
        Posting(account_name(AccountKind.USER, campaign.advertiser_user_id), amount),
    )


class AdHandlers:
    """The ad commands' handlers, over the store and the journal."""

    def __init__(self, store: BuddoStore, journal: Journal, clock: Clock) -> None:
        self.store = store
        self.journal = journal
        self.clock = clock

    def table(self) -> dict[type, Callable[..., object]]:
        return {
            LaunchCampaign: self.launch,
            CloseCampaign: self.close,
            ServeAd: self.serve,
            RecordAdEvent: self.record,
        }

    def launch(self, command: LaunchCampaign) -> CampaignLaunched:
        terms = command.terms.checked()
        self.check_advertiser(command.advertiser_user_id)
        campaign_id = campaign_id_for(command.idempotency)
        plan = MovePoints(
            kind=EntryKind.CAMPAIGN_FUNDING,
            postings=funding_postings(command.advertiser_user_id, campaign_id, command.budget),
            memo=f"Campaign: {terms.name}",
            metadata={"campaign_id": str(campaign_id), **asdict(terms)},
            idempotency=command.idempotency,
        ).plan()

        def campaign() -> list[Campaign]:
            advertiser = command.advertiser_user_id
            return [Campaign.launch(campaign_id, advertiser, terms, command.budget, plan.entry_id)]

        entry = self.journal.record(plan, extras=campaign)
        launched = get_as(self.store, campaign_id, Campaign)
        return CampaignLaunched(launched, entry.position, entry.replayed)

    def close(self, command: CloseCampaign) -> CampaignClosed:
        campaign = self.campaign(command.campaign_id)
        names = [p.account for p in refund_postings(campaign, 1)]
        with self.journal.locks.hold(names):
            return with_retries(lambda: self.attempt_close(command), self.journal.max_attempts)

    def attempt_close(self, command: CloseCampaign) -> CampaignClosed:
        """One try on a fresh campaign and balance: the Closed event, the refund entry and the
        request's key in one transaction (a concurrent close or payout makes it an
        IntegrityError: try again, and a keyed retry then finds the key and replays)."""
        prior = self.prior_close(command)
        if prior is not None:
            return prior
        campaign = self.campaign(command.campaign_id)
        left = self.balance(command.campaign_id)
        campaign.close(left)  # 409 when already closed
        if left == 0:
            key = self.close_key(command, None)
            return CampaignClosed(campaign, 0, self.store.record(campaign, *key))
        plan = MovePoints(
            kind=EntryKind.CAMPAIGN_REFUND,
            postings=refund_postings(campaign, left),
            memo=f"Campaign closed: {campaign.name}",
            metadata={"campaign_id": str(command.campaign_id)},
        ).plan()
        key = self.close_key(command, plan.entry_id)
        try:
            entry = self.journal.attempt(plan, extras=lambda: [campaign, *key])
        except InsufficientPointsError as refusal:
            # A payout took points after we read the balance: decide again from scratch.
            raise IntegrityError("the campaign's balance moved under the close") from refusal
        return CampaignClosed(campaign, left, entry.position)

    def prior_close(self, command: CloseCampaign) -> CampaignClosed | None:
        """The close a keyed request already made (another campaign under the key: 409)."""
        prior = stored_key(self.store, command.idempotency)
        if prior is None:
            return None
        prior.check_same_request(request_digest(command))
        campaign = self.campaign(command.campaign_id)
        return CampaignClosed(campaign, campaign.refunded, self.store.max_position(), True)

    def close_key(self, command: CloseCampaign, entry_id: UUID | None) -> list[IdempotencyKey]:
        """The key of a keyed close, naming its refund entry (none when nothing was left)."""
        key = command.idempotency
        if key is None:
            return []
        digest = request_digest(command)
        return [IdempotencyKey(key.scope, key.key, digest, entry_id, refusal=None)]

    def check_advertiser(self, user_id: UUID) -> None:
        try:
            advertiser = get_as(self.store, user_id, User)
        except (AggregateNotFoundError, TypeError):
            raise ValidationError({"advertiser_user_id": ["no such user"]}) from None
        if advertiser.suspended:
            raise ValidationError({"advertiser_user_id": ["this user is suspended"]})

    def serve(self, command: ServeAd) -> AdServed:
        check_surface(command.surface_type)
        self.campaign(command.campaign_id)
        served = AdServe(
            id=uuid4(),
            campaign_id=command.campaign_id,
            app_id=command.app_id,
            user_id=command.user_id,
            surface_type=command.surface_type,
        )
        return AdServed(served.id, self.store.record(served))

    def record(self, command: RecordAdEvent) -> AdEventRecorded:
        check_event_type(command.event_type)
        check_surface(command.surface_type)
        campaign = self.campaign(command.campaign_id)
        if command.serve_id is not None:
            self.serve_of(command.serve_id, command)  # a foreign or unknown serve: refused now
        names = [p.account for p in payout_postings(campaign, command, Payout(1, 1))]
        with self.journal.locks.hold(names):
            return with_retries(lambda: self.attempt(campaign, command), self.journal.max_attempts)

    def attempt(self, campaign: Campaign, command: RecordAdEvent) -> AdEventRecorded:
        """One try: decide from fresh aggregates, then save everything in one transaction."""
        prior = self.prior_event(command)
        if prior is not None:
            return AdEventRecorded(prior, self.store.max_position(), replayed=True)
        hour = quota_hour(self.clock())
        quota = self.quota(command, hour)
        serve = None if command.serve_id is None else self.serve_of(command.serve_id, command)
        payout = decide_payout(
            campaign, self.balance(campaign.id), command.event_type, quota, serve
        )
        event = AdEvent(
            campaign_id=campaign.id,
            app_id=command.app_id,
            user_id=command.user_id,
            event_type=command.event_type,
            surface_type=command.surface_type,
            serve_id=command.serve_id,
            payout_rate_snapshot=payout.to_app,
            user_reward_snapshot=payout.to_user,
        )
        extras: list[Any] = [event, *self.key_for(command, event)]
        if payout.total == 0:
            return AdEventRecorded(event, self.store.record(*extras), replayed=False)
        quota.count_paid(event.id)
        extras.append(quota)
        if serve is not None and command.event_type == "impression":
            serve.pay_impression(event.id)
            extras.append(serve)
        return self.pay(campaign, command, payout, event, extras)

    def pay(
        self,
        campaign: Campaign,
        command: RecordAdEvent,
        payout: Payout,
        event: AdEvent,
        extras: list[Any],
    ) -> AdEventRecorded:
        postings = payout_postings(campaign, command, payout)
        check_postings(postings)
        plan = MovePoints(
            kind=EntryKind.AD_PAYOUT,
            postings=postings,
            memo=f"Ad {command.event_type}: {campaign.name}",
            metadata={"campaign_id": str(campaign.id), "ad_event_id": str(event.id)},
            app_id=command.app_id,
        ).plan()
        try:
            entry = self.journal.attempt(plan, extras=lambda: extras)
        except InsufficientPointsError as refusal:
            # Another process spent the budget after we read it: decide again from scratch.
            raise IntegrityError("the campaign's balance moved under this event") from refusal
        return AdEventRecorded(event, entry.position, replayed=False)

    def campaign(self, campaign_id: UUID) -> Campaign:
        try:
            return get_as(self.store, campaign_id, Campaign)
        except (AggregateNotFoundError, TypeError):
            raise NotFoundError("No such campaign.") from None

    def balance(self, campaign_id: UUID) -> int:
        name = account_name(AccountKind.CAMPAIGN, campaign_id)
        try:
            return get_as(self.store, account_id(name), Account).balance
        except AggregateNotFoundError:
            return 0

    def serve_of(self, serve_id: UUID, command: RecordAdEvent) -> AdServe:
        try:
            serve = get_as(self.store, serve_id, AdServe)
        except (AggregateNotFoundError, TypeError):
            raise ValidationError({"serve_id": ["no such serve"]}) from None
        serve.check_reported_by(command.campaign_id, command.app_id, command.user_id)
        return serve

    def quota(self, command: RecordAdEvent, hour: str) -> AdQuota:
        try:
            return get_as(
                self.store, ad_quota_id(command.user_id, command.campaign_id, hour), AdQuota
            )
        except AggregateNotFoundError:
            return AdQuota(command.user_id, command.campaign_id, hour)

    def prior_event(self, command: RecordAdEvent) -> AdEvent | None:
        """The event a keyed request already made (a changed body is a conflict)."""
        key = command.idempotency
        if key is None:
            return None
        try:
            prior = get_as(self.store, ad_event_key_id(key.scope, key.key), AdEventKey)
        except AggregateNotFoundError:
            return None
        prior.check_same_request(command.digest())
        return get_as(self.store, prior.ad_event_id, AdEvent)

    def key_for(self, command: RecordAdEvent, event: AdEvent) -> list[AdEventKey]:
        key = command.idempotency
        if key is None:
            return []
        return [AdEventKey(key.scope, key.key, command.digest(), event.id)]
