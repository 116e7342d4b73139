"""The samples route takes what ``capacity ingest`` takes: a Prometheus query_range response (one result, or the one
``?label=`` names), ``?dst=refuse|shift`` with ``?tz=``, read by the CLI's own readers. Through ``capacity serve`` on
loopback with a real SQLite store: a bad body is a 422 naming the field, row and value, and stores nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from capacity.bench.reliability.st_hooks import samples_ok
from capacity.store import Store
from capacity.testing.serve import ServeProcess

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
CAPACITY = str(Path(sys.executable).with_name("capacity"))


def query_range(*results: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": list(results)}}


def result(instance: str, values: list[float | str], **labels: str) -> dict[str, Any]:
    """One series of a response, a sample a minute, values as Prometheus writes them (text)."""
    metric = {"__name__": "node_cpu", "instance": instance, "job": "node", **labels}
    return {"metric": metric, "values": [[T0 + 60 * i, str(v)] for i, v in enumerate(values)]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    """``capacity serve`` (one worker) on an empty SQLite file, and a write token."""
    tmp = tmp_path_factory.mktemp("prom")
    db = tmp / "live.db"
    store = Store.open(db)
    _, secret = store.tokens.create_token(["write", "read"], "prometheus-samples")
    store.close()
    server = ServeProcess(db, tmp / "server.log", workers=1).start(timeout=300)  # a hang guard
    yield server.url, {"Authorization": f"Bearer {secret}"}, db
    server.stop()
    assert "Traceback" not in server.text()


def post(
    live: tuple[str, dict[str, str], Path], series: str, body: Any, query: str = ""
) -> requests.Response:
    url, auth, _ = live
    route = f"{url}/api/v1/series/{series}/samples{query}"
    if isinstance(body, str):
        return requests.post(
            route, data=body.encode(), headers={**auth, "Content-Type": "text/csv"}, timeout=60
        )
    return requests.post(route, json=body, headers=auth, timeout=60)


def stored(db: Path, service: str, metric: str) -> pd.Series | None:
    store = Store.open(db)
    try:
        known = {(s.service, s.metric) for s in store.series.list_series()}
        return store.series.load_history(service, metric) if (service, metric) in known else None
    finally:
        store.close()


def problem(answer: requests.Response, field: str) -> str:
    """The detail of a 422 problem document naming ``field``."""
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    doc = answer.json()
    assert doc["field"] == field, doc
    return str(doc["detail"])


def test_one_result_is_stored_as_the_series_of_the_url_and_a_resend_changes_nothing(live: Any) -> None:
    body = query_range(result("web-1:9100", [41.5, "NaN", 44, 40]))
    first = post(live, "web/cpu", body)
    assert first.status_code == 201, first.text
    assert first.json()["inserted"] == 3  # NaN is a gap, as capacity ingest reads it
    again = post(live, "web/cpu", body)
    assert again.status_code == 200 and again.json()["inserted"] == 0 and again.json()["samples"] == 3
    values = stored(live[2], "web", "cpu")
    assert values is not None
    assert list(values) == [41.5, 44.0, 40.0]
    assert list(values.index) == [pd.Timestamp(T0 + 60 * i, unit="s", tz="UTC") for i in (0, 2, 3)]


def test_several_results_are_a_422_naming_them_until_label_or_a_selector_picks_one(live: Any) -> None:
    body = query_range(
        result("a:9100", [1, 2]), result("b:9100", [30, 40]), result("c:9100", [5, 6], env="dev")
    )
    detail = problem(post(live, "pick/cpu", body), "label")
    assert "3 series" in detail and all(name in detail for name in ("a:9100", "b:9100", "c:9100"))
    assert "?label=" in detail
    assert stored(live[2], "pick", "cpu") is None
    none = problem(post(live, "pick/cpu", body, '?label={instance="z"}'), "label")
    assert "no series" in none and "b:9100" in none
    assert stored(live[2], "pick", "cpu") is None
    by_name = post(live, "pick/cpu", body, "?label=b:9100")
    assert by_name.status_code == 201, by_name.text
    values = stored(live[2], "pick", "cpu")
    assert values is not None and list(values) == [30.0, 40.0]
    by_selector = post(live, "pick/mem", body, '?label={env="dev"}')
    assert by_selector.status_code == 201, by_selector.text
    mem = stored(live[2], "pick", "mem")
    assert mem is not None and list(mem) == [5.0, 6.0]


def test_a_selector_matching_several_results_names_them(live: Any) -> None:
    body = query_range(result("a", [1]), result("b", [2]), result("c", [3], env="dev"))
    detail = problem(post(live, "sel/cpu", body, '?label={job="node"}'), "label")
    assert "3 series" in detail
    detail = problem(post(live, "sel/cpu", body, '?label=node_cpu{instance="a", env="dev"}'), "label")
    assert "no series" in detail
    assert stored(live[2], "sel", "cpu") is None


@pytest.mark.parametrize(
    ("values", "field", "row", "shown"),
    [
        ([1, 2, "abc"], "value", 3, "'abc'"),
        ([1, 140], "value", 2, "'140'"),  # a percent metric
        ([1, "1e999"], "value", 2, "'1e999'"),
    ],
)
def test_a_bad_row_is_a_422_naming_the_result_row_and_value_and_nothing_is_stored(
    live: Any, values: list[Any], field: str, row: int, shown: str
) -> None:
    body = query_range(result("good", [1, 2, 3]), result("bad", values))
    answer = post(live, "rows/cpu", body, "?label=bad")
    assert problem(answer, field).count(shown) == 1
    assert answer.json()["row"] == row and "result 2" in answer.json()["detail"]
    assert stored(live[2], "rows", "cpu") is None


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "status", "the query failed"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "resultType", "matrix"),
        (query_range(), "result", "no series"),
        (query_range({"metric": ["up"], "values": [[T0, "1"]]}), "result", "labels"),
        (query_range({"metric": {}, "values": [[T0, "1", "2"]]}), "values", "row 1"),
        (query_range({"metric": {}, "values": [[None, "1"]]}), "ts", "row 1"),
    ],
)
def test_a_body_that_is_no_query_range_response_is_a_422_saying_what_it_is(
    live: Any, body: dict[str, Any], field: str, words: str
) -> None:
    assert words in problem(post(live, "shape/cpu", body), field)
    assert stored(live[2], "shape", "cpu") is None


def test_label_on_a_body_of_one_series_is_a_422(live: Any) -> None:
    detail = problem(post(live, "one/cpu", {"ts": [T0], "value": [1]}, "?label=a"), "label")
    assert "one series" in detail
    assert stored(live[2], "one", "cpu") is None


def test_a_grafana_csv_of_several_columns_takes_label_as_the_cli_takes_column(live: Any) -> None:
    text = (
        'Time,"cpu{instance=""a""}","cpu{instance=""b""}"\n2026-01-01 00:00:00,1,2\n2026-01-01 00:01:00,3,4\n'
    )
    assert "2 series" in problem(post(live, "grafana/cpu", text), "label")
    picked = post(live, "grafana/cpu", text, '?label={instance="b"}')
    assert picked.status_code == 201, picked.text
    values = stored(live[2], "grafana", "cpu")
    assert values is not None and list(values) == [2.0, 4.0]


def test_dst_refuse_names_the_row_a_skipped_time_is_on_and_shift_reads_it_an_hour_later(live: Any) -> None:
    """2026-03-29 02:30 never happens in Berlin (the clocks go from 02:00 to 03:00)."""
    text = "timestamp,value\n2026-03-29 01:30:00,1\n2026-03-29 02:30:00,2\n2026-03-29 04:00:00,3\n"
    refused = problem(post(live, "dst/rps", text, "?tz=Europe/Berlin"), "ts")
    assert "row 3" in refused and "02:30" in refused and "?dst=shift" in refused and "--dst" not in refused
    assert problem(post(live, "dst/rps", text, "?tz=Europe/Berlin&dst=later"), "dst")
    assert problem(post(live, "dst/rps", text, "?tz=" + "x" * 65), "tz")  # over the documented 64 characters
    assert stored(live[2], "dst", "rps") is None
    shifted = post(live, "dst/rps", text, "?tz=Europe/Berlin&dst=shift")
    assert shifted.status_code == 201, shifted.text
    values = stored(live[2], "dst", "rps")
    assert values is not None
    # 01:30 CET is 00:30 UTC; 02:30, read an hour later, is 03:30 CEST (01:30 UTC); 04:00 CEST is 02:00 UTC.
    assert list(values.index.strftime("%H:%M")) == ["00:30", "01:30", "02:00"]
    assert list(values) == [1.0, 2.0, 3.0]


def test_dst_shift_applies_to_a_json_body_too(live: Any) -> None:
    body = {"ts": ["2026-03-29T01:30:00", "2026-03-29T02:30:00"], "value": [1, 2]}
    refused = problem(post(live, "dstj/rps", body, "?tz=Europe/Berlin"), "ts")
    assert "row 2" in refused and "?dst=shift" in refused
    shifted = post(live, "dstj/rps", body, "?tz=Europe/Berlin&dst=shift")
    assert shifted.status_code == 201, shifted.text
    values = stored(live[2], "dstj", "rps")
    assert values is not None and list(values.index.strftime("%H:%M")) == ["00:30", "01:30"]


def test_the_route_stores_what_capacity_ingest_stores_from_the_same_file(live: Any, tmp_path: Path) -> None:
    body = query_range(result("a", [1, 2, "+Inf", 4]), result("b", [10.25, 20.5, 30, "NaN"]))
    answer = post(live, "same/rps", body, "?label=b")
    assert answer.status_code == 201, answer.text
    path = tmp_path / "export.json"
    path.write_text(json.dumps(body))
    db = tmp_path / "cli.db"
    Store.open(db).close()
    cmd = [
        CAPACITY,
        "ingest",
        str(path),
        "--service",
        "same",
        "--metric",
        "rps",
        "--column",
        "b",
        "--db",
        str(db),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    cli, api = stored(db, "same", "rps"), stored(live[2], "same", "rps")
    assert cli is not None and api is not None
    pd.testing.assert_series_equal(cli, api)


_cell = st.one_of(
    st.integers(-10, 4_000_000_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(["NaN", "+Inf", "12.5", "1e999", "2026-01-01T00:00:00Z", "-1"]),
)
_pair = st.one_of(st.lists(_cell, min_size=0, max_size=3), _cell)
_labels = st.one_of(
    st.dictionaries(st.sampled_from(["__name__", "instance", "job"]), st.text(max_size=4), max_size=3),
    st.lists(st.text(max_size=3), max_size=2),
    st.none(),
)
_result = st.fixed_dictionaries({"metric": _labels, "values": st.lists(_pair, max_size=4)})
_good = st.lists(
    st.builds(
        result,
        st.sampled_from(["a", "b"]),
        st.lists(st.one_of(st.floats(0, 1e6), st.sampled_from(["NaN", "+Inf", "7"])), min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=2,
).map(lambda results: query_range(*results))
_odd = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["success", "error", 1]),
        "data": st.fixed_dictionaries(
            {"resultType": st.sampled_from(["matrix", "vector"]), "result": st.lists(_result, max_size=3)}
        ),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(_good, _odd),
    label=st.one_of(st.none(), st.sampled_from(["a", '{instance="a"}', "{}", "x{"])),
)
def test_any_query_range_body_is_stored_whole_or_refused_with_a_422_as_the_schemathesis_hook_predicts(
    live: Any, body: dict[str, Any], label: str | None
) -> None:
    """Never a 500; a refusal stores nothing; and the hook that keeps schemathesis' positive cases to the route's
    rules says exactly which bodies the route takes (it calls the same reader)."""
    query = "" if label is None else "?" + urlencode({"label": label})
    before = stored(live[2], "fuzz", "rps")
    answer = post(live, "fuzz/rps", body, query)
    assert answer.status_code in (200, 201, 422), (answer.status_code, answer.text[:300])
    accepted = answer.status_code in (200, 201)
    assert samples_ok("fuzz", "rps", body, {"label": label} if label is not None else {}) == accepted
    event("stored" if accepted else "refused")
    if not accepted:
        assert answer.json()["detail"] and "Traceback" not in answer.text
        after = stored(live[2], "fuzz", "rps")
        assert (before is None and after is None) or (
            before is not None and after is not None and before.equals(after)
        )


@pytest.mark.parametrize(
    ("body", "query"),
    [
        ("timestamp,value\n2026-01-01T00:00:00Z,41.5\n", {"tz": "Europe/Berlin", "dst": "refuse"}),
        ("timestamp,value\n2026-01-01T00:00:00,41.5\n", {"tz": "Europe/Berlin", "dst": "refuse"}),
        ({"ts": ["2026-01-01T00:00:00Z"], "value": [1]}, {"tz": "Europe/Berlin"}),
        ({"ts": ["2026-03-29T02:30:00"], "value": [1]}, {"tz": "Europe/Berlin", "dst": "shift"}),
        ("timestamp,value\n2026-01-01T00:00:00Z,41.5\n", {"label": '{instance="web-1"}'}),
    ],
)
def test_the_schemathesis_hook_reads_tz_dst_and_label_as_the_route_does(
    live: Any, body: Any, query: dict[str, str]
) -> None:
    """schemathesis sent the document's CSV example (an offset Z) with the tz example (Europe/Berlin): the route
    refuses it (the offset disagrees with the zone), so the hook must drop it."""
    answer = post(live, "hook/rps", body, "?" + urlencode(query))
    assert answer.status_code in (200, 201, 422), answer.text
    assert samples_ok("hook", "rps", body, query) == (answer.status_code != 422), answer.text
    if answer.status_code == 422:
        assert "--" not in answer.json()["detail"]  # the route's terms, not the CLI's options
