"""Azure Functions entry point: composition only. Each trigger lives in a blueprint in shared/triggers/."""

import azure.functions as func

from shared.triggers.http import bp as http_bp
from shared.triggers.http_hunts import bp as http_hunts_bp
from shared.triggers.http_indicators import bp as http_indicators_bp
from shared.triggers.http_tenants import bp as http_tenants_bp
from shared.triggers.hunting import bp as hunting_bp
from shared.triggers.indicators import bp as indicators_bp
from shared.triggers.queue import bp as queue_bp
from shared.triggers.retention import bp as retention_bp
from shared.triggers.timer import bp as timer_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(timer_bp)
app.register_functions(queue_bp)
app.register_functions(http_bp)
app.register_functions(http_tenants_bp)
app.register_functions(indicators_bp)
app.register_functions(http_indicators_bp)
app.register_functions(hunting_bp)
app.register_functions(http_hunts_bp)
app.register_functions(retention_bp)
