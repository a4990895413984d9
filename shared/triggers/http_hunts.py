"""The blueprint of the hunting routes (``shared.http.routes.HUNT_ROUTES``, served by ``shared.http.hunts_api``).

Each function converts the request, makes the one call ``HuntsApi.handle`` and converts the answer back, like
the action routes in ``shared/triggers/http.py``. Hunts only queue work and read what the ``hunt-jobs`` worker
(shared/triggers/hunting.py) stored: no request waits for Microsoft Graph.
"""

from __future__ import annotations

import azure.functions as func

from shared.bootstrap import build_hunts_api
from shared.http.hunts_api import HuntsApi
from shared.http.routes import HUNT_ROUTES
from shared.platform.lazy import Lazy
from shared.triggers.http import register

bp = func.Blueprint()  # type: ignore[no-untyped-call]
_api: Lazy[HuntsApi] = Lazy(build_hunts_api)


def use_hunts_api(api: HuntsApi | None) -> None:
    """Install the ``HuntsApi`` the functions use (tests); None: build from settings again."""
    _api.use(api)


for _route in HUNT_ROUTES:
    register(bp, _api, _route)
