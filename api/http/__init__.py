"""HTTP plumbing shared by every route: problem documents and the one status table, request and response schemas,
the OpenAPI document, bearer-token auth and its rate limit, JSON safety, and the JSON renderings of forecasts and
risks."""
