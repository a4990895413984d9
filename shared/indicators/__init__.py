"""Custom indicators across tenants: push a set, sync a baseline (with a dry run), drift reports, removal.

The use case (``service``) over a port (``ports.IndicatorApi``; the MDE adapter is
``shared.defender.indicators``), the pure plan (``plan``), jobs fanned out one per tenant on queue
``indicator-jobs`` (``jobs``, ``submit``, ``worker``), their records (``stores``), status (``status``), and
indicator files (``baseline``). docs/indicators.md describes the whole.
"""
