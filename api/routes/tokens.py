"""Token management over HTTP (admin): list, create and revoke tokens. The CLI does the same locally."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import List, String
from apiflask.validators import Length, OneOf, Regexp

from api.http import openapi, params, schemas
from api.http.auth import require
from api.http.render import iso
from api.state import state, store
from capacity.store.tokens import SCOPES, TokenInfo

bp = APIBlueprint("tokens", __name__, tag="Tokens")


class TokenIn(Schema):
    """A new token."""

    scopes = List(String(validate=OneOf(SCOPES)), required=True, validate=Length(1, 3))
    name = String(
        validate=[Length(0, 128), Regexp(params.TOKEN_NAME), params.no_surrogates],
        metadata={"description": "A label, without control characters"},
    )


def token_json(token: TokenInfo) -> dict[str, Any]:
    """A token as JSON (never its secret)."""
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "created_at": iso(token.created_at),
        "revoked_at": iso(token.revoked_at),
        "last_used_at": iso(token.last_used_at),
    }


@bp.get("/tokens")
@require("admin")
@bp.doc(responses=openapi.ok(schemas.TOKEN_LIST))
def list_tokens() -> Any:
    """List tokens (admin); secrets are never shown."""
    return {"tokens": [token_json(t) for t in store().tokens.list_tokens()]}


@bp.post("/tokens")
@require("admin")
@bp.input(TokenIn, arg_name="body")
@bp.doc(responses=openapi.ok(schemas.TOKEN_NEW, "Token created; the secret is shown only here", status=201))
def create_token(body: dict[str, Any]) -> Any:
    """Create a token (admin); the response holds the secret, shown once."""
    info, secret = store().tokens.create_token(body["scopes"], body.get("name", ""))
    return {**token_json(info), "token": secret}, 201


@bp.delete("/tokens/<int:token_id>")
@require("admin")
@bp.doc(responses=openapi.no_content())
def revoke_token(token_id: int) -> Any:
    """Revoke a token (admin)."""
    store().tokens.revoke_token(token_id)
    state().tokens.clear()
    return "", 204
