"""The blueprint of the indicator routes (``shared.http.indicators_api``): push, sync, drift, remove, job
status and the per-tenant list. Each function converts the request, makes the one call
``IndicatorsApi.handle`` and converts the answer back, like the action routes in ``shared/triggers/http.py``.
"""

from __future__ import annotations

import azure.functions as func

from shared.bootstrap import build_indicators_api
from shared.http.indicators_api import IndicatorsApi
from shared.http.routes import INDICATOR_OPERATIONS, ROUTES
from shared.platform.lazy import Lazy
from shared.triggers.http import register

bp = func.Blueprint()  # type: ignore[no-untyped-call]
_api: Lazy[IndicatorsApi] = Lazy(build_indicators_api)


def use_indicators_api(api: IndicatorsApi | None) -> None:
    """Install the ``IndicatorsApi`` the functions use (tests); None: build from settings again."""
    _api.use(api)


for _route in ROUTES:
    if _route.operation in INDICATOR_OPERATIONS:
        register(bp, _api, _route)
