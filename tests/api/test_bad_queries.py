"""Query filters that Postgres could not store are bad input: 422 naming the parameter, never a 500
(schemathesis found a NUL byte in a text filter and an id beyond BIGINT; both were 500s on Postgres)."""

from __future__ import annotations

import pytest

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.modes.slices import parse_slice_key, slice_key


def _field_of(response) -> str:  # noqa: ANN001
    assert response.status_code == 422, response.text
    return response.json()["errors"][0]["field"]


@pytest.mark.parametrize("name", ["entity", "entity_type", "actor", "action"])
def test_nul_byte_in_an_audit_filter_is_422(api, auth, name) -> None:
    response = api.get("/v1/audit", params={name: "canary\x00"}, headers=auth("reviewer"))
    assert _field_of(response) == name


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/candidates", "target"),
        ("/v1/candidates", "status"),
        ("/v1/training-runs", "trainer"),
        ("/v1/evaluations", "status"),
    ],
)
def test_nul_byte_in_list_filters_is_422(api, auth, path, name) -> None:
    assert _field_of(api.get(path, params={name: "a\x00b"}, headers=auth("reviewer"))) == name


@pytest.mark.parametrize("before_id", ["-465704065549617135616", str(2**63), "-1"])
def test_audit_cursor_out_of_range_is_422(api, auth, before_id) -> None:
    response = api.get("/v1/audit", params={"before_id": before_id}, headers=auth("reviewer"))
    assert _field_of(response) == "before_id"


def test_audit_filters_still_filter(api, auth, target) -> None:
    rows = api.get("/v1/audit", params={"action": "target.create"}, headers=auth("reviewer")).json()
    assert rows and {r["action"] for r in rows} == {"target.create"}
    newest = rows[0]["id"]
    assert api.get("/v1/audit", params={"before_id": newest}, headers=auth("reviewer")).status_code == 200


def test_slice_keys_round_trip_and_malformed_ones_name_the_field() -> None:
    dims = {"lang": "ja", "cohort": "new"}
    assert parse_slice_key(slice_key(dims)) == dims
    assert parse_slice_key("tier=a=b") == {"tier": "a=b"}  # a value may hold "="
    for bad in ("null", "", "=ja", "lang=ja×cohort"):
        with pytest.raises(ValidationFailed) as refused:
            parse_slice_key(bad)
        assert refused.value.fields["field"] == "slice"
