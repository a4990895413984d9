"""The partner (MSSP) side of the emulated world: app registrations, managed identity, Key Vault secrets.

Made once at start-up. Ids come from a generator seeded by ``--seed`` (so a run is reproducible), but
kept apart from ``world.rng``, which the scenario uses for Defender data. Secret values are random per
run: they are credentials a test must read from emulator.json, never constants to copy into code.
"""

from __future__ import annotations

import random
import secrets
import uuid
from pathlib import Path

from emulator.tls import create_app_certificate
from emulator.world import AppFamily, AppRegistration, ManagedIdentity, World

SECRET_NAMES = (
    "commercial-app-secret",
    "commercial-app-certificate",
    "usgov-app-secret",
    "usgov-app-certificate",
    "webhook-signing-secret",
    "http-signing-secret",
)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _secret() -> str:
    # Entra client secrets are 40 characters from a URL-safe alphabet with a "~" separator.
    return secrets.token_urlsafe(6)[:3] + "8Q~" + secrets.token_urlsafe(27)[:34]


def _make_app(family: AppFamily, rng: random.Random, state_dir: Path, home_tenant_id: str) -> AppRegistration:
    cert = create_app_certificate(state_dir / f"app-{family}.pem", subject=f"defender-relay-{family}")
    return AppRegistration(
        family=family,
        client_id=_guid(rng),
        client_secret=_secret(),
        expired_client_secret=_secret(),
        certificate_pem_path=str(cert.pem_path),
        thumbprint=cert.thumbprint_sha1,
        thumbprint_sha256=cert.thumbprint_sha256,
        public_key_pem=cert.public_key_pem,
        home_tenant_id=home_tenant_id,
    )


def create_partner(world: World, state_dir: Path) -> None:
    """Register the partner apps, the managed identity and the vault secrets in ``world``."""
    rng = random.Random(f"partner-{world.seed}")
    world.partner_tenant_id = _guid(rng)
    identity = ManagedIdentity(
        client_id=_guid(rng),
        principal_id=_guid(rng),
        tenant_id=world.partner_tenant_id,
        header=secrets.token_hex(16),
    )
    world.managed_identity = identity
    for family in ("commercial", "usgov"):
        world.apps[family] = _make_app(family, rng, state_dir, world.partner_tenant_id)
    # Only the commercial app trusts the managed identity: a managed identity as federated credential
    # does not work across clouds, see
    # https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
    world.apps["commercial"].federated_subjects.append(identity.principal_id)
    commercial, usgov = world.apps["commercial"], world.apps["usgov"]
    values = {
        "commercial-app-secret": commercial.client_secret,
        "commercial-app-certificate": Path(commercial.certificate_pem_path).read_text(),
        "usgov-app-secret": usgov.client_secret,
        "usgov-app-certificate": Path(usgov.certificate_pem_path).read_text(),
        "webhook-signing-secret": secrets.token_urlsafe(32),
        "http-signing-secret": secrets.token_urlsafe(32),
    }
    for name in SECRET_NAMES:
        world.secrets[name] = [values[name]]


def apps_json(world: World) -> dict[str, dict[str, str]]:
    """The ``apps`` section of emulator.json (docs/contracts.md §1.2)."""
    out: dict[str, dict[str, str]] = {}
    for family, app in world.apps.items():
        entry = {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "certificate_pem": app.certificate_pem_path,
            "thumbprint": app.thumbprint,
            "thumbprint_sha256": app.thumbprint_sha256,
        }
        if family == "commercial":
            entry["expired_client_secret"] = app.expired_client_secret
        out[family] = entry
    return out
