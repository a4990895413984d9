"""Hunting across every customer at once: one KQL query through Graph ``runHuntingQuery`` in many tenants.

- ``model``: a hunt, its per-tenant runs and their states; the checks of a query and a ``Timespan``.
- ``service``: the use case: start a hunt (one run per selected tenant, a probe job first), status, results.
- ``runner``: one ``hunt-jobs`` message = one tenant's run: query, rows to blob in chunks, outcome; the probe
  fans the rest out once the query is proven (``fanout``).
- ``store`` (Table ``hunts``), ``results`` (blob ``hunt-results``), ``reader`` (merged NDJSON / CSV pages).
- ``schedules`` + ``cron``: saved hunts on an NCRONTAB schedule, started by the timer; ``delivery`` hands
  their new rows to the sinks as ``hunt-row`` events.
The flow, the limits and the examples are in docs/hunting.md.
"""
