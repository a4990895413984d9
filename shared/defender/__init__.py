"""The Defender API client: transport (hosts, paging, throttling, retries), OData, models, rate limit.

Within ``shared``, may import only ``shared.platform`` and ``shared.domain`` (and itself).
"""
