"""The tenant registry (store and snapshot), the per-tenant health check and least-privilege permissions.

Within ``shared``, may import only ``shared.platform`` and ``shared.domain`` (and itself).
"""
