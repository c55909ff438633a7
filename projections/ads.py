"""CampaignView: one row per launched campaign; its money is the `balances` row of its account.
A closed campaign also has a row in `campaign_closures` (a table of its own, so that stores made
before campaigns could close need no migration).

Written inline: serving reads it to pick a campaign that can still pay, so it must not lag.
"""

from __future__ import annotations

from ledger.accounts import AccountKind, account_name
from ledger.ads import Campaign, cost_of_next_payout
from ledger.times import iso_z
from projections.base import Event, Projection, Sql


class CampaignProjection(Projection):
    """A campaign's terms as launched; `spent` and `status` come from its account's balance."""

    name = "ad_campaigns"
    tables = {  # noqa: RUF012 - a class-level constant table
        "campaigns": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, account TEXT NOT NULL,"
            " advertiser_user_id TEXT NOT NULL, name TEXT NOT NULL, surface_type TEXT NOT NULL,"
            " creative_url TEXT, payout_rate BIGINT NOT NULL, user_reward BIGINT NOT NULL,"
            " cost BIGINT NOT NULL, budget BIGINT NOT NULL, rake BIGINT NOT NULL,"
            " bitcoin_tier TEXT, entry_id TEXT NOT NULL, position BIGINT NOT NULL,"
            " inserted_at TEXT NOT NULL)",
            "id",
        ),
        "campaign_closures": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY,"
            " refunded BIGINT NOT NULL, closed_at TEXT NOT NULL, position BIGINT NOT NULL)",
            "id",
        ),
    }

    def schema(self) -> list[str]:
        table = self.table("campaigns")
        return [
            *super().schema(),
            f"CREATE INDEX IF NOT EXISTS {table}_surface ON {table} (surface_type)",
        ]

    def apply(self, sql: Sql, position: int, event: Event) -> None:
        if isinstance(event, Campaign.Closed):
            sql.execute(
                f"INSERT INTO {self.table('campaign_closures')} (id, refunded, closed_at,"
                " position) VALUES (%s, %s, %s, %s)",
                (str(event.originator_id), event.refunded, iso_z(event.timestamp), position),
            )
            return
        if not isinstance(event, Campaign.Launched):
            return
        campaign_id = event.originator_id
        cost = cost_of_next_payout(event.surface_type, event.payout_rate, event.user_reward)
        sql.execute(
            f"INSERT INTO {self.table('campaigns')} (id, account, advertiser_user_id, name,"
            " surface_type, creative_url, payout_rate, user_reward, cost, budget, rake,"
            " bitcoin_tier, entry_id, position, inserted_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                str(campaign_id),
                account_name(AccountKind.CAMPAIGN, campaign_id),
                str(event.advertiser_user_id),
                event.name,
                event.surface_type,
                event.creative_url,
                event.payout_rate,
                event.user_reward,
                cost,
                event.budget,
                event.rake,
                event.bitcoin_tier,
                str(event.entry_id),
                position,
                iso_z(event.timestamp),
            ),
        )
