"""The API's store mixins (tokens, jobs) and the API itself on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import pytest

from api import create_app
from capacity.errors import InvalidInput, UnknownJob, UnknownToken
from capacity.store import Store
from capacity.store.tokens import hash_token
from tests.support.api import columns_body
from tests.support.data import hourly_history


def test_tokens_round_trip_hashed(any_store: Store) -> None:
    info, secret = any_store.tokens.create_token(["write", "read"], "ci")
    assert info.scopes == ("read", "write") and secret.startswith("cp_") and info.prefix == secret[:11]
    assert any_store.tokens.verify_token(secret) == info
    assert (
        any_store.tokens.verify_token(secret + "x") is None
        and any_store.tokens.verify_token("garbage") is None
    )
    assert info.allows("read") and info.allows("write") and not info.allows("admin")
    with any_store.read() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM tokens").scalar_one()
    assert stored == hash_token(secret) and secret not in stored
    revoked = any_store.tokens.revoke_token(info.prefix)
    assert revoked.revoked_at is not None and any_store.tokens.verify_token(secret) is None
    with pytest.raises(UnknownToken):
        any_store.tokens.revoke_token("cp_nothing-like-it")
    with pytest.raises(InvalidInput, match="scope"):
        any_store.tokens.create_token(["root"])


def test_jobs_claim_once_progress_and_recover(any_store: Store) -> None:
    job = any_store.jobs.create_job("forecasts", {"keys": [["a", "cpu"]]}, total=1)
    claimed = any_store.jobs.claim_job("w1")
    assert claimed is not None and claimed.id == job.id and claimed.attempts == 1
    assert any_store.jobs.claim_job("w2") is None  # only one worker wins
    any_store.jobs.job_progress(job.id, 1, 0, {**claimed.params, "failures": []})
    assert any_store.jobs.heartbeat_job(job.id, "w1") and not any_store.jobs.heartbeat_job(job.id, "w2")
    assert any_store.jobs.recover_stale_jobs(stale_after=3600) == []
    back = any_store.jobs.recover_stale_jobs(stale_after=-1)
    assert [j.status for j in back] == ["queued"]
    again = any_store.jobs.claim_job("w2")
    assert again is not None and again.attempts == 2
    any_store.jobs.finish_job(job.id)
    assert any_store.jobs.get_job(job.id).status == "done"
    with pytest.raises(UnknownJob):
        any_store.jobs.get_job("nope")


def test_api_on_the_store(any_store: Store) -> None:
    app = create_app({"worker": False, "forecast_budget_s": 120.0}, store=any_store)
    _, secret = any_store.tokens.create_token(["write"], "t")
    auth = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    body = columns_body(hourly_history("web", "rps", days=10))
    assert client.post("/api/v1/series/web/rps/samples", json=body, headers=auth).status_code == 201
    assert client.post("/api/v1/series/web/rps/samples", json=body, headers=auth).get_json()["inserted"] == 0
    forecast = client.get("/api/v1/series/web/rps/forecast?horizon=1d", headers=auth)
    assert forecast.status_code == 200 and len(forecast.get_json()["points"]) == 24
    assert client.get("/healthz").get_json()["checks"]["database"] == "ok"
