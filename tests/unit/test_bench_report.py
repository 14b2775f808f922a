"""The benchmark report's arithmetic: medians over rounds, ratios to the shape's ssh path."""

from __future__ import annotations

import pytest

from benchmarks._report import PathRun, finish


def _run(name: str, shape: str, *, reference: bool = False, **samples: list[float]) -> PathRun:
    run = PathRun(key=name, name=name, shape=shape, reference=reference)
    for key, values in samples.items():
        run.samples[key].extend(values)
    return run


def test_each_path_is_divided_by_the_reference_of_its_own_shape() -> None:
    reports = finish(
        [
            _run("direct", "direct", upload_mb_s=[1000.0]),
            _run("ssh -R", "2", reference=True, upload_mb_s=[100.0, 300.0, 200.0]),
            _run("portal-2", "2", upload_mb_s=[500.0, 400.0, 100.0]),
            _run("ssh -L + -R", "3", reference=True, upload_mb_s=[50.0]),
            _run("portal-3", "3", upload_mb_s=[75.0]),
        ]
    )
    by_name = {report.name: report for report in reports}

    assert by_name["ssh -R"].medians == {"upload_mb_s": 200.0}
    assert by_name["portal-2"].medians == {"upload_mb_s": 400.0}
    assert by_name["portal-2"].relative_to == "ssh -R"
    assert by_name["portal-2"].ratios == {"upload_mb_s": pytest.approx(2.0)}
    assert by_name["portal-3"].relative_to == "ssh -L + -R"
    assert by_name["portal-3"].ratios == {"upload_mb_s": pytest.approx(1.5)}
    assert by_name["direct"].ratios == {}
    assert by_name["ssh -R"].ratios == {}


def test_a_shape_whose_reference_failed_has_no_ratios() -> None:
    ssh = _run("ssh -R", "2", reference=True)
    ssh.status, ssh.reason = "failed", "sshd did not start"
    reports = finish([ssh, _run("portal-2", "2", rtt_p50_us=[300.0])])

    assert reports[1].medians == {"rtt_p50_us": 300.0}
    assert reports[1].ratios == {}
    assert reports[1].relative_to is None


def test_a_figure_missing_from_the_reference_gets_no_ratio() -> None:
    reports = finish(
        [
            _run("ssh -R", "2", reference=True, rtt_p50_us=[100.0]),
            _run("portal-2", "2", rtt_p50_us=[250.0], connections_per_s=[400.0]),
        ]
    )

    assert reports[1].ratios == {"rtt_p50_us": pytest.approx(2.5)}
