"""The HTTP API behind the HTTP triggers: route table, request handling, input checks, problem details,
OpenAPI, request signing and the tenants routes.

Within ``shared``, may import ``shared.actions``, ``shared.ingest``, ``shared.tenants`` and everything below.
"""
