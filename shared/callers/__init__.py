"""Who calls the HTTP API, what they may do, and on which tenants.

- ``roles``: the relay API's app roles, one per capability (``Relay.Read``, ``Relay.Respond``, ...); every
  route of ``shared.http.routes`` names the one it requires.
- ``tokens`` and ``keys``: Entra ID bearer tokens validated by the relay itself (PyJWT, RS256 only, against
  the partner tenant's OpenID metadata and signing keys, cached with key rollover).
- ``scope``: a caller's tenant scope (tenant ids and tags) and the checks every use case calls, one tenant
  at a time or over a fan-out.
- ``store``: the caller table (``defender-relay callers add|list|remove``), keyed by app id or object id.
- ``authenticator``: from a request's headers to a ``Caller`` (token, function key, or the operator CLI).
"""
