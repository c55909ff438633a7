"""Ad rules without a database: funding splits, the payout decision, serves and the hourly cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from ledger.ad_delivery import (
    MAX_PAID_EVENTS_PER_HOUR,
    AdEventKey,
    AdQuota,
    AdServe,
    decide_payout,
    quota_hour,
)
from ledger.ads import UNPAID, Campaign, CampaignTerms, Payout, split_budget
from ledger.errors import ConflictError, IdempotencyConflictError, ValidationError

APP, USER = uuid4(), uuid4()


def campaign(
    surface: str = "banner", payout: int = 5, reward: int = 2, budget: int = 100
) -> Campaign:
    terms = CampaignTerms("Spring sale", surface, payout, reward).checked()
    return Campaign.launch(uuid4(), uuid4(), terms, budget, uuid4())


def serve_of(ad: Campaign, app: UUID = APP, user: UUID = USER) -> AdServe:
    return AdServe(id=uuid4(), campaign_id=ad.id, app_id=app, user_id=user, surface_type="banner")


def quota_for(ad: Campaign) -> AdQuota:
    return AdQuota(USER, ad.id, "2026-05-22T12")


@pytest.mark.parametrize(
    ("budget", "rake", "funded"),
    [(100, 10, 90), (1_000, 100, 900), (19, 1, 18), (9, 0, 9), (1, 0, 1)],
)
def test_the_rake_is_a_tenth_rounded_down(budget: int, rake: int, funded: int) -> None:
    assert split_budget(budget) == (rake, funded)
    launched = campaign(budget=budget)
    assert (launched.rake, launched.budget) == (rake, funded)


@pytest.mark.parametrize("budget", [0, -5, 1_000_000_001, 2.5, True, "10"])
def test_a_bad_budget_is_refused(budget: object) -> None:
    with pytest.raises(ValidationError) as refused:
        split_budget(budget)  # type: ignore[arg-type]
    assert "budget" in refused.value.fields


@pytest.mark.parametrize(
    ("field", "terms"),
    [
        ("name", CampaignTerms("", "banner", 5, 0)),
        ("name", CampaignTerms("x" * 101, "banner", 5, 0)),
        ("surface_type", CampaignTerms("n", "billboard", 5, 0)),
        ("payout_rate", CampaignTerms("n", "banner", 0, 0)),
        ("payout_rate", CampaignTerms("n", "banner", 1.5, 0)),  # type: ignore[arg-type]
        ("user_reward", CampaignTerms("n", "banner", 5, -1)),
        ("user_reward", CampaignTerms("n", "rewarded", 1_000_000_000, 1)),
        ("bitcoin_tier", CampaignTerms("n", "banner", 5, 0, bitcoin_tier="")),
    ],
)
def test_bad_terms_name_the_field(field: str, terms: CampaignTerms) -> None:
    with pytest.raises(ValidationError) as refused:
        terms.checked()
    assert field in refused.value.fields


def test_a_banner_event_pays_the_app_only() -> None:
    ad = campaign("banner", payout=5, reward=2)
    assert decide_payout(ad, 90, "impression", quota_for(ad), None) == Payout(5, 0)
    assert decide_payout(ad, 90, "click", quota_for(ad), None) == Payout(5, 0)


def test_a_rewarded_impression_pays_the_viewer_too_and_a_click_does_not() -> None:
    ad = campaign("rewarded", payout=5, reward=2)
    assert decide_payout(ad, 90, "impression", quota_for(ad), None) == Payout(5, 2)
    assert decide_payout(ad, 90, "click", quota_for(ad), None) == Payout(5, 0)


def test_a_campaign_that_cannot_cover_its_next_payout_pays_nothing() -> None:
    ad = campaign("rewarded", payout=5, reward=2, budget=100)
    assert ad.cost_of_next_payout == 7
    assert decide_payout(ad, 7, "impression", quota_for(ad), None) == Payout(5, 2)
    assert decide_payout(ad, 6, "impression", quota_for(ad), None) == UNPAID
    assert decide_payout(ad, 6, "click", quota_for(ad), None) == UNPAID


def test_a_closed_campaign_pays_nothing_and_cannot_close_again() -> None:
    ad = campaign(payout=5, budget=100)
    ad.close(refunded=90)

    assert (ad.closed, ad.refunded) == (True, 90)
    assert decide_payout(ad, 1_000, "click", quota_for(ad), None) == UNPAID
    with pytest.raises(ConflictError):
        ad.close(refunded=0)


def test_a_budget_below_one_payout_after_the_rake_launches_exhausted() -> None:
    assert campaign(payout=5, budget=5).status_at_launch == "active"  # no rake under 10
    assert campaign(payout=10, budget=10).status_at_launch == "exhausted"  # 10 - 1 < 10
    assert campaign(payout=9, budget=10).status_at_launch == "active"


def test_one_serve_pays_one_impression_and_clicks_are_not_limited_by_it() -> None:
    ad = campaign()
    served = serve_of(ad)
    assert decide_payout(ad, 90, "impression", quota_for(ad), served) == Payout(5, 0)
    served.pay_impression(uuid4())
    assert decide_payout(ad, 90, "impression", quota_for(ad), served) == UNPAID
    assert decide_payout(ad, 90, "click", quota_for(ad), served) == Payout(5, 0)
    with pytest.raises(ConflictError):
        served.pay_impression(uuid4())


def test_a_serve_is_reported_only_for_its_campaign_app_and_user() -> None:
    ad = campaign()
    served = serve_of(ad)
    served.check_reported_by(ad.id, APP, USER)
    for wrong in [(uuid4(), APP, USER), (ad.id, uuid4(), USER), (ad.id, APP, uuid4())]:
        with pytest.raises(ValidationError) as refused:
            served.check_reported_by(*wrong)
        assert "serve_id" in refused.value.fields


def test_the_sixty_first_event_of_an_hour_is_unpaid() -> None:
    ad = campaign(payout=1, budget=1_000)
    quota = quota_for(ad)
    for _ in range(MAX_PAID_EVENTS_PER_HOUR):
        assert decide_payout(ad, 900, "click", quota, None) == Payout(1, 0)
        quota.count_paid(uuid4())
    assert quota.paid == 60
    assert decide_payout(ad, 900, "click", quota, None) == UNPAID
    with pytest.raises(ConflictError):
        quota.count_paid(uuid4())
    assert quota.paid == 60


def test_quotas_are_per_user_campaign_and_utc_hour() -> None:
    first = AdQuota(USER, uuid4(), "2026-05-22T12")
    assert first.id == AdQuota(USER, first.campaign_id, "2026-05-22T12").id
    assert first.id != AdQuota(USER, first.campaign_id, "2026-05-22T13").id
    assert first.id != AdQuota(uuid4(), first.campaign_id, "2026-05-22T12").id
    moment = datetime(2026, 5, 22, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert quota_hour(moment) == "2026-05-22T12"
    assert quota_hour(datetime(2026, 5, 22, 12, 59, 59, tzinfo=UTC)) == "2026-05-22T12"


def test_a_replayed_campaign_rebuilds_from_its_events() -> None:
    ad = campaign("rewarded", payout=3, reward=1, budget=50)
    copy = None
    for event in ad.collect_events():
        copy = event.mutate(copy)
    assert isinstance(copy, Campaign)
    assert (copy.budget, copy.rake, copy.cost_of_next_payout) == (45, 5, 4)


def test_an_ad_event_key_answers_only_its_own_request() -> None:
    key = AdEventKey("scope", "key-1", "digest-a", uuid4())
    key.check_same_request("digest-a")
    with pytest.raises(IdempotencyConflictError):
        key.check_same_request("digest-b")
