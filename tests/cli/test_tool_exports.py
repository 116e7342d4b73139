"""Exports from the tools users have (a Grafana panel CSV, Prometheus query_range JSON, Prophet's ds,y, CloudWatch's
Timestamp,Value,Unit) ingest as the samples they hold; local time with --tz lands in UTC through both DST changes;
what cannot be read is one line naming the file, row and value, exit 2, nothing stored. Real files, a real SQLite
file, the CLI through its entry point, and the API's samples route on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from api import create_app
from capacity.cli import cli
from capacity.store import Store

#: Hourly UTC instants across Europe/Berlin's change back to winter time (2024-10-27 01:00 UTC).
FALL = pd.date_range("2024-10-26 20:00", periods=10, freq="1h", tz="UTC")
#: Hourly UTC instants across the change to summer time (2024-03-31 01:00 UTC).
SPRING = pd.date_range("2024-03-30 20:00", periods=10, freq="1h", tz="UTC")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def stored(db: Path) -> dict[tuple[str, str], pd.Series]:
    store = Store.open(db)
    try:
        return {
            (s.service, s.metric): store.series.load_history(s.service, s.metric)
            for s in store.series.list_series()
        }
    finally:
        store.close()


def ingest(path: Path, *args: str) -> tuple[int, str, dict[tuple[str, str], pd.Series]]:
    db = path.parent / "cap.db"
    code, out = run("ingest", str(path), *args, "--db", str(db), "--create")
    return code, out, stored(db)


def grafana(ts: pd.DatetimeIndex, columns: dict[str, list[str]], time_text: list[str], sep: str = ",") -> str:
    """What Grafana's inspector writes: quoted header names, CRLF, empty cells for missing points, no quotes around
    plain values; the separator is the browser locale's list separator."""
    header = sep.join('"' + name.replace('"', '""') + '"' for name in ["Time", *columns])
    rows = [sep.join([time_text[i], *(col[i] for col in columns.values())]) for i in range(len(ts))]
    return "\r\n".join([header, *rows])


def test_a_grafana_panel_export_joined_by_time_becomes_one_series_per_column(tmp_path: Path) -> None:
    ms = [str(int(t.timestamp() * 1000)) for t in FALL]
    web1 = [f"{40 + i}.5" for i in range(10)]
    web2 = [f"{60 + i}" for i in range(10)]
    web2[3] = ""  # no point at that time: Grafana writes null as an empty cell
    path = tmp_path / "CPU-data-2024-10-27 10_00_00.csv"
    path.write_text(grafana(FALL, {"web-1 (p95)": web1, "web-2": web2}, ms))
    code, out, series = ingest(path, "--metric", "cpu")
    assert code == 0, out
    assert sorted(series) == [("web-1_p95", "cpu"), ("web-2", "cpu")]
    assert series[("web-1_p95", "cpu")].index.equals(FALL)
    assert np.allclose(series[("web-1_p95", "cpu")].to_numpy(), [float(v) for v in web1])
    assert series[("web-2", "cpu")].index.equals(FALL.delete(3))


def test_grafana_label_sets_name_the_series_by_the_labels_that_differ(tmp_path: Path) -> None:
    names = [f'node_load1{{instance="web-{i}:9100", job="node"}}' for i in (1, 2)]
    ms = [str(int(t.timestamp() * 1000)) for t in FALL]
    path = tmp_path / "load.csv"
    path.write_text(grafana(FALL, {n: ["1.5"] * 10 for n in names}, ms))
    code, out, series = ingest(path)
    assert code == 0, out
    assert sorted(series) == [("web-1:9100", "value"), ("web-2:9100", "value")]
    semicolons = tmp_path / "de" / "load.csv"  # a locale whose list separator is ';'
    semicolons.parent.mkdir()
    semicolons.write_text(grafana(FALL, {n: ["1.5"] * 10 for n in names}, ms, sep=";"))
    code, out, series = ingest(semicolons)
    assert code == 0 and sorted(series) == [("web-1:9100", "value"), ("web-2:9100", "value")], out


def test_several_series_with_service_ask_which_one_and_column_picks_it(tmp_path: Path) -> None:
    ms = [str(int(t.timestamp() * 1000)) for t in FALL]
    path = tmp_path / "cpu.csv"
    path.write_text(grafana(FALL, {"web-1": ["1"] * 10, "web-2": ["2"] * 10}, ms))
    code, out, series = ingest(path, "--service", "checkout")
    assert code == 2 and series == {}, out
    assert (
        "cpu.csv: 2 series in one file (web-1, web-2): drop --service to ingest each as its own service, or pick "
        "one with --column NAME" in out
    )
    code, out, series = ingest(path, "--service", "checkout", "--column", "web-2", "--metric", "cpu")
    assert code == 0 and list(series) == [("checkout", "cpu")], out
    assert (series[("checkout", "cpu")] == 2).all()
    code, out, series = ingest(path, "--column", "web-1")  # picked from several: it keeps its own name
    assert code == 0 and list(series) == [("checkout", "cpu"), ("web-1", "value")], out
    code, out, _ = ingest(path, "--column", "web-9")
    assert code == 2 and "cpu.csv: no series column 'web-9'; the file's are 'web-1', 'web-2'" in out, out


def test_grafana_local_time_with_tz_is_stored_in_utc_through_the_change_back_to_winter_time(
    tmp_path: Path,
) -> None:
    # "Formatted data" writes the dashboard's local time without an offset; 02:00 and 02:30 local happen twice.
    local = [f"{t.tz_convert('Europe/Berlin'):%Y-%m-%d %H:%M:%S}" for t in FALL]
    assert len(set(local)) == len(local) - 1  # one wall-clock hour repeats
    path = tmp_path / "web.csv"
    path.write_text(grafana(FALL, {"Value": [str(i) for i in range(10)]}, local))
    code, out, series = ingest(path, "--tz", "Europe/Berlin")
    assert code == 0, out
    assert series[("web", "value")].index.equals(FALL)
    assert series[("web", "value")].to_numpy().tolist() == list(range(10))
    newest_first = tmp_path / "rev" / "web.csv"
    newest_first.parent.mkdir()
    newest_first.write_text(grafana(FALL[::-1], {"Value": [str(i) for i in range(10)][::-1]}, local[::-1]))
    code, out, series = ingest(newest_first, "--tz", "Europe/Berlin")
    assert code == 0 and series[("web", "value")].to_numpy().tolist() == list(range(10)), out


def test_tz_reads_summer_time_and_leaves_epoch_values_alone(tmp_path: Path) -> None:
    local = [f"{t.tz_convert('America/New_York'):%Y-%m-%dT%H:%M}" for t in SPRING]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "web.csv").write_text("ds,y\n" + "\n".join(f"{t},{i}" for i, t in enumerate(local)))
    (tmp_path / "a" / "api.csv").write_text(
        "Timestamp,Value\n" + "\n".join(f"{int(t.timestamp())},{i}" for i, t in enumerate(SPRING))
    )
    code, out = run("ingest", str(tmp_path / "a"), "--tz", "America/New_York", "--db", str(tmp_path / "c.db"),
                    "--create")  # fmt: skip
    assert code == 0, out
    series = stored(tmp_path / "c.db")
    assert series[("web", "value")].index.equals(SPRING) and series[("api", "value")].index.equals(SPRING)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["2024-03-31 01:00:00,1", "2024-03-31 02:30:00,2"],
            "web.csv: row 3: ts does not exist in Europe/Berlin (the clocks skip that hour when summer time begins)"
            ": is the file in another zone, or are its labels hour-ending? --dst shift reads it as the hour after, "
            "got '2024-03-31 02:30:00'",
        ),
        (
            ["2024-10-27 01:00:00,1", "2024-10-27 02:00:00,2", "2024-10-27 03:00:00,3"],
            "web.csv: row 3: ts happens twice in Europe/Berlin (the clocks go back an hour) but the series gives it "
            "once, so which is meant is unknown: export with UTC offsets, delete the row, or give --dst shift (a "
            "repeated hour given once is then the first of the two), got '2024-10-27 02:00:00'",
        ),
        (
            ["2024-07-01T10:00:00+02:00,1", "2024-07-01T11:00:00Z,2"],
            "web.csv: row 3: ts has the offset +00:00, but Europe/Berlin was at +02:00 then: --tz gives the zone of "
            "timestamps written without an offset; drop it, or give the zone the file was written in",
        ),
    ],
)
def test_times_that_name_no_single_instant_in_the_zone_are_refused_naming_the_row(
    rows: list[str], message: str, tmp_path: Path
) -> None:
    path = tmp_path / "web.csv"
    path.write_text("time,value\n" + "\n".join(rows) + "\n")
    code, out, series = ingest(path, "--tz", "Europe/Berlin")
    assert code == 2 and message in " ".join(out.split()) and series == {}, out
    assert "Traceback" not in out


def test_offsets_that_agree_with_tz_are_accepted_and_a_bad_zone_is_named(tmp_path: Path) -> None:
    path = tmp_path / "web.csv"
    path.write_text("time,value\n2024-07-01T10:00:00+02:00,1\n2024-01-01T10:00:00+01:00,2\n")
    code, out, series = ingest(path, "--tz", "Europe/Berlin")
    assert code == 0 and series[("web", "value")].index[0] == pd.Timestamp("2024-01-01 09:00", tz="UTC"), out
    code, out, _ = ingest(path, "--tz", "Europe/Berln")
    assert (
        code == 2
        and "tz must be an IANA time zone name like Europe/Berlin" in out
        and "'Europe/Berln'" in out
    )


def prometheus(*series: tuple[dict[str, str], list[list[object]]]) -> str:
    result = [{"metric": labels, "values": values} for labels, values in series]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})


def test_a_prometheus_query_range_response_becomes_one_series_per_label_set(tmp_path: Path) -> None:
    secs = [t.timestamp() for t in FALL]
    a = [[s, f"{i}.25"] for i, s in enumerate(secs)]
    b = [[s, "NaN" if i == 4 else str(i)] for i, s in enumerate(secs)]
    path = tmp_path / "rps.json"
    path.write_text(
        prometheus(({"instance": "web-1", "job": "api"}, a), ({"instance": "web-2", "job": "api"}, b))
    )
    code, out, series = ingest(path, "--metric", "rps")
    assert code == 0, out
    assert sorted(series) == [("web-1", "rps"), ("web-2", "rps")]
    assert series[("web-1", "rps")].index.equals(FALL)
    # NaN is a gap, as ingest prometheus drops it
    assert series[("web-2", "rps")].index.equals(FALL.delete(4))
    picked = tmp_path / "picked" / "rps.json"
    picked.parent.mkdir()
    picked.write_text(path.read_text())
    code, out, series = ingest(picked, "--service", "api", "--column", "web-2", "--metric", "rps")
    assert code == 0 and list(series) == [("api", "rps")], out
    single = tmp_path / "one" / "checkout.json"
    single.parent.mkdir()
    single.write_text(prometheus(({"__name__": "up"}, a)))
    code, out, series = ingest(single)
    assert code == 0 and list(series) == [("checkout", "value")], out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '{"status":"error","errorType":"bad_data","error":"parse error"}',
            "x.json: the query failed: 'parse error'",
        ),
        (
            '{"status":"success","data":{"resultType":"vector","result":[]}}',
            "x.json: resultType must be matrix (a range query, /api/v1/query_range), got 'vector'",
        ),
        ('{"series": []}', "x.json: not a Prometheus query_range response"),
        ("{not json", "x.json: not valid JSON"),
        (
            prometheus(({"instance": "a"}, [[1719792000, "1"], [1719795600, "-3"]])),
            "x.json: result 1 (",
        ),
    ],
)
def test_a_json_file_that_is_no_range_query_is_refused_saying_what_it_is(
    body: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "x.json"
    path.write_text(body)
    code, out, series = ingest(path, "--metric", "rps")
    assert code == 2 and message in out and series == {}, out
    if "result 1" in message:
        assert "row 2: value must not be negative for 'rps' (a rate), got '-3'" in out


def test_an_excel_export_in_utf16_with_tabs_and_a_sep_line_read_as_the_same_samples(tmp_path: Path) -> None:
    ms = [str(int(t.timestamp() * 1000)) for t in FALL]
    values = [str(i) for i in range(10)]
    text = grafana(FALL, {"Value": values}, ms).replace(",", "\t")
    (tmp_path / "u16").mkdir()
    (tmp_path / "u16" / "web.csv").write_bytes(("\ufeff" + text).encode("utf-16-le"))
    (tmp_path / "sep").mkdir()
    (tmp_path / "sep" / "web.csv").write_text("sep=;\r\n" + text.replace("\t", ";"))
    for folder in ("u16", "sep"):
        code, out, series = ingest(tmp_path / folder / "web.csv")
        assert code == 0 and series[("web", "value")].index.equals(FALL), (folder, out)


def test_a_formatted_value_with_a_unit_names_the_row_and_the_grafana_option(tmp_path: Path) -> None:
    path = tmp_path / "web.csv"
    path.write_text('"Time","web-1"\r\n2024-03-01 00:00:00,45.2%\r\n')
    code, out, series = ingest(path)
    assert code == 2 and series == {}, out
    assert "row 2: value is not a number, got '45.2%'" in out and "'Formatted data' on" in out


def test_a_file_without_a_time_column_names_its_own_header(tmp_path: Path) -> None:
    path = tmp_path / "web.csv"
    path.write_text("when,requests\n2024-03-01 00:00:00,5\n")
    code, out, _ = ingest(path)
    assert (
        code == 2 and "web.csv: missing column 'timestamp'" in out and "the file's is when,requests)" in out
    )
    path.write_text("date,time,value\n2024-03-01,00:00:00,5\n")
    code, out, _ = ingest(path)
    assert code == 2 and "web.csv: several time columns (time, date): keep one" in out, out


def client_and_auth(tmp_path: Path) -> tuple[FlaskClient, dict[str, str]]:
    db = tmp_path / "api.db"
    Store.open(db).close()
    app = create_app({"db": str(db), "worker": False})
    _, secret = app.extensions["capacity"].store.tokens.create_token(["write", "read"], "test")
    return app.test_client(), {"Authorization": f"Bearer {secret}", "Content-Type": "text/csv"}


def test_the_samples_route_reads_export_headers_and_asks_which_of_several_series(tmp_path: Path) -> None:
    client, headers = client_and_auth(tmp_path)
    route = "/api/v1/series/web/rps/samples"
    answer = client.post(route, data="ds,y\n2024-03-01 00:00:00,5\n2024-03-01 01:00:00,6\n", headers=headers)
    assert answer.status_code == 201, answer.json
    answer = client.post(route, data='"Time","web-1"\r\n1709258400000,7\r\n', headers=headers)
    assert answer.status_code == 200 and answer.json["samples"] == 3, answer.json
    answer = client.post(route, data='"Time","a","b"\r\n1709262000000,1,2\r\n', headers=headers)
    assert answer.status_code == 422, answer.json
    assert "body: 2 series in one file (a, b): this route takes one series" in answer.json["detail"]
    assert client.get("/api/v1/series/web/rps", headers=headers).json["samples"] == 3


def test_the_samples_route_reads_local_time_with_tz_and_names_a_bad_zone_or_row(tmp_path: Path) -> None:
    client, headers = client_and_auth(tmp_path)
    route = "/api/v1/series/web/rps/samples"
    local = [f"{t.tz_convert('Europe/Berlin'):%Y-%m-%d %H:%M:%S}" for t in FALL]
    text = "Time,Value\n" + "\n".join(f"{t},{i}" for i, t in enumerate(local)) + "\n"
    answer = client.post(f"{route}?tz=Europe/Berlin", data=text, headers=headers)
    assert answer.status_code == 201 and answer.json["samples"] == 10, answer.json
    body = {"ts": ["2024-03-31 01:00:00", "2024-03-31 03:00:00"], "value": [1, 2]}
    answer = client.post(
        f"{route}?tz=Europe/Berlin", json=body, headers={"Authorization": headers["Authorization"]}
    )
    assert answer.status_code == 200, answer.json
    got = client.get("/api/v1/series/web/rps", headers=headers).json
    assert got["samples"] == 12, got
    body = {"ts": ["2024-03-31 02:30:00"], "value": [1]}
    answer = client.post(
        f"{route}?tz=Europe/Berlin", json=body, headers={"Authorization": headers["Authorization"]}
    )
    assert (
        answer.status_code == 422
        and "samples: row 1: ts does not exist in Europe/Berlin" in answer.json["detail"]
    )
    answer = client.post(f"{route}?tz=Berlin", data=text, headers=headers)
    assert answer.status_code == 422 and "tz must be an IANA time zone name" in answer.json["detail"], (
        answer.json
    )
    assert client.get("/api/v1/series/web/rps", headers=headers).json["samples"] == 12
    spring = pd.DatetimeIndex(["2024-03-31 00:00", "2024-03-31 01:00"], tz="UTC")
    assert stored(tmp_path / "api.db")[("web", "rps")].index.equals(spring.append(FALL))


def test_hour_ending_local_labels_are_refused_naming_the_row_and_read_hourly_with_dst_shift(
    tmp_path: Path,
) -> None:
    # PJM-style load data: hour-ending local labels, so 02:00 appears on the spring day and 01:00 once in the fall.
    rows = ["2013-03-10 01:00:00,10", "2013-03-10 02:00:00,11", "2013-03-10 04:00:00,12"]
    rows += ["2013-11-03 00:00:00,20", "2013-11-03 01:00:00,21", "2013-11-03 02:00:00,22"]
    path = tmp_path / "pjm.csv"
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    code, out, series = ingest(path, "--tz", "America/New_York")
    assert code == 2 and series == {}, out
    assert "pjm.csv: row 3: ts does not exist in America/New_York" in out and "--dst shift" in out
    code, out, series = ingest(path, "--tz", "America/New_York", "--dst", "shift")
    assert code == 0, out
    spring = ["2013-03-10 06:00", "2013-03-10 07:00", "2013-03-10 08:00"]
    expected = pd.DatetimeIndex(
        [*spring, "2013-11-03 04:00", "2013-11-03 05:00", "2013-11-03 07:00"], tz="UTC"
    )
    assert series[("pjm", "value")].index.equals(expected)


def test_service_label_names_the_series_as_ingest_prometheus_does(tmp_path: Path) -> None:
    pairs = [[t.timestamp(), "1"] for t in FALL]
    body = prometheus(
        ({"instance": "10.0.0.1:9100", "pod": "web-7f9c"}, pairs),
        ({"instance": "10.0.0.2:9100", "pod": "web-a1b2"}, pairs),
    )
    for folder, args, expected in (
        ("default", (), ["10.0.0.1:9100-web-7f9c", "10.0.0.2:9100-web-a1b2"]),
        ("pod", ("--service-label", "pod"), ["web-7f9c", "web-a1b2"]),
    ):
        path = tmp_path / folder / "cpu.json"
        path.parent.mkdir()
        path.write_text(body)
        code, out, series = ingest(path, *args)
        assert code == 0 and sorted(s for s, _ in series) == expected, out
    path = tmp_path / "job" / "cpu.json"
    path.parent.mkdir()
    path.write_text(body)
    code, out, series = ingest(path, "--service-label", "job")
    assert code == 2 and series == {}, out
    assert 'cpu.json: series 1 ({instance="10.0.0.1:9100", pod="web-7f9c"}) has no label \'job\'' in out
