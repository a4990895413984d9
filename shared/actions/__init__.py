"""Response actions: the service behind the HTTP API, ``Idempotency-Key`` records and the audit trail.

Within ``shared``, may import only itself and the packages below it (defender, auth, tenants, platform, domain).
"""
