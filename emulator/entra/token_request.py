"""What a token request carries, read the way Entra reads it: the form body, and HTTP Basic client auth.

- A body posted without a ``Content-Type`` header is read as a form, as Entra does (Observed: clients
  that send one, e.g. some ``curl``/shell scripts, get tokens from Entra; issue 13 of this project).
  Any other content type than a form is not read (the request then lacks ``grant_type``: AADSTS900144).
- ``client_secret_basic``: ``Authorization: Basic base64(urlencode(client_id) ":" urlencode(secret))``
  (RFC 6749 §2.3.1, https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1), advertised by Entra's discovery
  document in ``token_endpoint_auth_methods_supported``. The header supplies the ``client_id`` and
  ``client_secret`` the body does not; a body ``client_id`` naming another app is refused (INF: RFC 6749
  forbids more than one client authentication method; Entra's exact answer is not documented).
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web

from emulator.entra import errors

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_form(request: web.Request) -> dict[str, str]:
    """The token request's parameters, with the HTTP Basic credential merged in."""
    form = await _body(request)
    basic = _basic_credential(request.headers.get("Authorization"))
    if basic is not None:
        client_id, secret = basic
        if form.get("client_id") and form["client_id"].lower() != client_id.lower():
            raise errors.conflicting_client_id()
        form["client_id"] = client_id
        form.setdefault("client_secret", secret)
    return form


async def _body(request: web.Request) -> dict[str, str]:
    declared = request.headers.get("Content-Type", "").strip()
    if not declared:
        raw = await request.read()
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    if request.content_type not in _FORM_TYPES:
        return {}
    return {name: str(value) for name, value in (await request.post()).items()}


def _basic_credential(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise errors.missing_credential() from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise errors.missing_credential()
    return unquote_plus(client_id), unquote_plus(secret)
