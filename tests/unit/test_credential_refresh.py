"""When a node asks its authority for a fresh credential (`RefreshSchedule`), without I/O."""

from __future__ import annotations

import pytest

from secure import CredentialData, RefreshSchedule

T0 = 1_800_000_000.0


def data(created: float, ttl: int) -> CredentialData:
    return CredentialData("I" + "0" * 64, "default", {}, int(created), int(created) + ttl)


def test_a_fresh_credential_is_fetched_at_80_percent_of_its_lifetime() -> None:
    schedule = RefreshSchedule()
    assert schedule.after_success(data(T0, 100), T0) == T0 + 80
    assert schedule.after_success(data(T0, 5), T0 + 0.5) == T0 + 4


def test_a_credential_already_past_its_refresh_time_is_refreshed_now() -> None:
    assert RefreshSchedule().after_success(data(T0, 10), T0 + 9) == T0 + 9


def test_failures_back_off_exponentially_up_to_the_maximum() -> None:
    schedule = RefreshSchedule(first_retry=1, max_retry=60)
    delays = [schedule.after_failure(T0, None) - T0 for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    schedule.after_success(data(T0, 100), T0)
    assert schedule.failures == 0
    assert schedule.after_failure(T0, None) == T0 + 1


def test_retries_leave_room_for_more_attempts_before_the_credential_lapses() -> None:
    schedule = RefreshSchedule(first_retry=1, max_retry=60)
    for _ in range(6):
        schedule.after_failure(T0, None)
    held = data(T0 - 80, 100)  # 20 s left
    assert schedule.after_failure(T0, held) == pytest.approx(T0 + 20 / 3)
    assert schedule.after_failure(T0 + 19.5, held) == T0 + 19.5 + 1  # never sooner than 1 s


@pytest.mark.parametrize(
    "kwargs",
    [{"fraction": 0}, {"fraction": 1}, {"first_retry": 0}, {"first_retry": 5, "max_retry": 1}],
)
def test_the_schedule_checks_its_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        RefreshSchedule(**kwargs)
