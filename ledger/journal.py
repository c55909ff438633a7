"""The journal: each points movement is one JournalEntry whose postings sum to zero."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.accounts import check_amount, parse_account_name
from ledger.errors import ValidationError
from ledger.ids import derived_id

MAX_MEMO_LENGTH = 200
MAX_METADATA_KEYS = 20


class EntryKind(Enum):
    """Why points moved."""

    GRANT = "grant"  # the treasury issues points (admin grant)
    SPEND = "spend"  # a user pays an app
    TRANSFER = "transfer"  # a user pays another user
    CAMPAIGN_FUNDING = "campaign_funding"  # an advertiser funds a campaign (rake to revenue)
    AD_PAYOUT = "ad_payout"  # a campaign pays an app for an ad event
    CAMPAIGN_REFUND = "campaign_refund"  # a closed campaign's points go back to the advertiser
    AD_REWARD = "ad_reward"  # a campaign rewards a viewer of a rewarded ad (an award)
    AWARD = "award"  # the treasury awards a user (education)
    DEPLOYMENT_CHARGE = "deployment_charge"  # an app pays revenue for a deployment tier


@dataclass(frozen=True)
class Posting:
    """One side of an entry: a signed change to one account (negative is a debit)."""

    account: str
    delta: int


def entry_id_for_key(scope: str, key: str) -> UUID:
    """The entry id a keyed request gets, so that its retry addresses the same entry."""
    return derived_id("entry", scope, key)


def check_postings(postings: tuple[Posting, ...]) -> None:
    """Refuse an entry that is not balanced double entry over distinct, valid accounts."""
    if len(postings) < 2:
        raise ValidationError({"postings": ["an entry needs at least two postings"]})
    accounts = [p.account for p in postings]
    if len(set(accounts)) != len(accounts):
        raise ValidationError({"postings": ["an account may appear only once per entry"]})
    for posting in postings:
        parse_account_name(posting.account)
        check_amount(abs(posting.delta), "delta")
    if sum(p.delta for p in postings) != 0:
        raise ValidationError({"postings": ["postings must sum to zero"]})


def check_memo(memo: str) -> str:
    """Memos are short, printable text."""
    if len(memo) > MAX_MEMO_LENGTH:
        raise ValidationError({"description": [f"at most {MAX_MEMO_LENGTH} characters"]})
    return memo


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata is a flat object of scalars with at most MAX_METADATA_KEYS keys."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValidationError({"metadata": [f"at most {MAX_METADATA_KEYS} keys"]})
    for value in metadata.values():
        if isinstance(value, dict | list):
            raise ValidationError({"metadata": ["must be a flat object of scalar values"]})
    return metadata


class JournalEntry(Aggregate):
    """A recorded movement of points; immutable once recorded (corrections are new entries)."""

    class Recorded(Aggregate.Created):
        """Points moved: the postings (with each balance after), why, and for which app."""

        kind: str
        postings: list[dict[str, Any]]
        memo: str
        metadata: dict[str, Any]
        app_id: UUID | None
        effective_at: datetime | None

    @event(Recorded)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library's name for an explicit aggregate id
        kind: str,
        postings: list[dict[str, Any]],
        memo: str,
        metadata: dict[str, Any],
        app_id: UUID | None,
        effective_at: datetime | None,
    ) -> None:
        self.kind = kind
        self.postings = postings
        self.memo = memo
        self.metadata = metadata
        self.app_id = app_id
        self.effective_at = effective_at

    def balance_after(self, account: str) -> int:
        """The balance `account` had right after this entry."""
        for posting in self.postings:
            if posting["account"] == account:
                return int(posting["balance_after"])
        raise KeyError(account)
