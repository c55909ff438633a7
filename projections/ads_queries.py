"""Queries over campaigns: one campaign with what it spent, and the campaign to serve next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.errors import NotFoundError
from projections.db import ReadDatabase, Row

# A campaign's money is its account's balance (0 once it never moved, is spent, or was refunded).
CAMPAIGN_QUERY = (
    "SELECT c.*, COALESCE(b.balance, 0) AS balance, x.refunded, x.closed_at FROM campaigns c"
    " LEFT JOIN balances b ON b.account = c.account"
    " LEFT JOIN campaign_closures x ON x.id = c.id"
)


@dataclass(frozen=True)
class CampaignView:
    """A campaign as the API shows it; `budget` is what it got after the rake."""

    id: str
    name: str
    surface_type: str
    creative_url: str | None
    payout_rate: int
    user_reward: int
    budget: int
    balance: int
    cost: int
    advertiser_user_id: str
    bitcoin_tier: str | None
    inserted_at: str
    refunded: int = 0
    closed_at: str | None = None

    @property
    def spent(self) -> int:
        """What events were paid: the budget less what is left and what went back."""
        return self.budget - self.balance - self.refunded

    @property
    def status(self) -> str:
        """`closed` once an admin closed it; else `exhausted` once the balance cannot cover the
        next payout (either way it is no longer served), else `active`."""
        if self.closed_at is not None:
            return "closed"
        return "active" if self.balance >= self.cost else "exhausted"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "surface_type": self.surface_type,
            "creative_url": self.creative_url,
            "payout_rate": self.payout_rate,
            "user_reward": self.user_reward,
            "budget": self.budget,
            "spent": self.spent,
            "status": self.status,
            "advertiser_user_id": self.advertiser_user_id,
            "bitcoin_tier": self.bitcoin_tier,
            "inserted_at": self.inserted_at,
            "refunded": self.refunded,
            "closed_at": self.closed_at,
        }


def _view(row: Row) -> CampaignView:
    return CampaignView(
        id=row["id"],
        name=row["name"],
        surface_type=row["surface_type"],
        creative_url=row["creative_url"],
        payout_rate=int(row["payout_rate"]),
        user_reward=int(row["user_reward"]),
        budget=int(row["budget"]),
        balance=int(row["balance"]),
        cost=int(row["cost"]),
        advertiser_user_id=row["advertiser_user_id"],
        bitcoin_tier=row["bitcoin_tier"],
        inserted_at=row["inserted_at"],
        refunded=int(row["refunded"] or 0),
        closed_at=row["closed_at"],
    )


async def campaign(db: ReadDatabase, campaign_id: UUID) -> CampaignView:
    """One campaign with its balance now (NotFoundError if there is none)."""
    row = await db.fetch_one(CAMPAIGN_QUERY + " WHERE c.id = %s", (str(campaign_id),))
    if row is None:
        raise NotFoundError("No such campaign.")
    return _view(row)


async def servable(db: ReadDatabase, surface_type: str) -> CampaignView | None:
    """The campaign of `surface_type` with the most money left that can still pay its next
    event (ties: the oldest launch first), or None when no funded campaign fits."""
    row = await db.fetch_one(
        CAMPAIGN_QUERY + " WHERE c.surface_type = %s AND COALESCE(b.balance, 0) >= c.cost"
        " AND x.id IS NULL ORDER BY balance DESC, c.position ASC LIMIT 1",
        (surface_type,),
    )
    return _view(row) if row is not None else None
