"""Every live read model, in one list: the schema, the inline writer and rebuilds use it."""

from __future__ import annotations

from collections.abc import Callable

from projections.ads import CampaignProjection
from projections.analytics import AnalyticsProjection
from projections.balances import BalanceProjection
from projections.base import InlineProjections, Projection, tracking_schema
from projections.credentials import CredentialsProjection
from projections.deployments import DeploymentProjection
from projections.history import HistoryProjection
from projections.learning import LearningProjection
from projections.oauth import OAuthProjection
from projections.sessions import SessionsProjection
from projections.social import SocialProjection
from projections.users import UsersProjection

# Written in the events' own transaction: never stale (design §5).
INLINE: tuple[Callable[[str], Projection], ...] = (
    BalanceProjection,
    HistoryProjection,
    UsersProjection,
    CredentialsProjection,
    OAuthProjection,
    AnalyticsProjection,
    SessionsProjection,
    CampaignProjection,
    SocialProjection,
    LearningProjection,
    DeploymentProjection,
)


def schema_statements() -> list[str]:
    """DDL for the tracking table and every live projection."""
    statements = [tracking_schema()]
    for factory in INLINE:
        statements.extend(factory("").schema())
    return statements


def inline_writer() -> InlineProjections:
    """The writer the event store calls inside each save."""
    return InlineProjections([factory("") for factory in INLINE])


def live_projections() -> list[Projection]:
    """One instance of each live projection, over the live tables."""
    return [factory("") for factory in INLINE]
