"""Triage from SOAR: update and comment on Graph alerts and incidents, close or classify many alerts at once,
tag machines.

- ``fields``: what a write may say, each value checked against the page it goes to (the alert and incident
  pages document different sets) before anything is called.
- ``service``: the use case over two ports, the Graph writes and the MDE machine tags
  (``shared.defender.triage_client`` is the adapter); every write reads the current values first, so the
  audit record says what changed from what to what, and a write that changes nothing is not sent.
- ``bulk``: many alerts of one tenant in one request, each with its own result.

Authorization (the tenant's ``triage`` allow-list entry), ``Idempotency-Key`` and the audit record are the
HTTP API's (``shared.http.triage_api``), as for the response actions.
"""
