"""The sandbox's published demo credentials, and the X.509 helpers the emulators share.

Like ``sandbox`` / ``sandbox-secret``, every value here is public: it lets the demo, the tests
and the benchmarks authenticate to the emulators exactly as Accord authenticates to the real
systems, with nothing to set up. Never use one against a real system.

- NetSuite M2M: a P-256 key derived from a fixed label (so that it needs no file in the
  repository and is the same in every process), whose self-signed certificate the NetSuite
  emulator has "uploaded" under :data:`M2M_CERTIFICATE_ID`; assertions are signed ES256.
- NetSuite TBA: the integration's consumer key and secret are the sandbox client id and secret;
  :data:`TBA_TOKEN_ID` / :data:`TBA_TOKEN_SECRET` are an access token issued to it.
- Kantata: the sandbox application's registered callback URI.

What does *not* belong here: how each emulator checks them (each ``auth`` module).
"""

import functools
import hashlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "KANTATA_REDIRECT_URI",
    "M2M_ALGORITHM",
    "M2M_CERTIFICATE_ID",
    "TBA_TOKEN_ID",
    "TBA_TOKEN_SECRET",
    "m2m_certificate_pem",
    "m2m_private_key_pem",
    "private_key_pem",
    "self_signed_certificate",
]

M2M_CERTIFICATE_ID = "sandbox-m2m-certificate"
"""The certificate id the NetSuite emulator's M2M setup shows for the sandbox certificate."""
M2M_ALGORITHM = "ES256"
"""The sandbox certificate's key is P-256: assertions are signed ES256."""
TBA_TOKEN_ID = "sandbox-token-id"  # noqa: S105 - an id, published
"""The NetSuite emulator's access token id (TBA)."""
TBA_TOKEN_SECRET = "sandbox-token-secret"  # noqa: S105 - a published demo secret
"""Its secret."""
KANTATA_REDIRECT_URI = "http://127.0.0.1:8765/accord/kantata/callback"
"""The callback URI registered with the Kantata emulator's application."""

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@functools.cache
def _m2m_key() -> ec.EllipticCurvePrivateKey:
    # A private scalar derived from a fixed label: the same key in every process, no PEM file.
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's n
    label = hashlib.sha256(b"accord-sandbox netsuite m2m demo key").digest()
    return ec.derive_private_key(int.from_bytes(label, "big") % (order - 1) + 1, ec.SECP256R1())


def private_key_pem(key: PrivateKey) -> str:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def self_signed_certificate(
    key: PrivateKey, *, common_name: str, days: int = 730, not_before: datetime | None = None
) -> str:
    """A self-signed PEM certificate for ``key`` (what a firm uploads to NetSuite or Entra)."""
    start = (not_before or datetime.now(UTC)) - timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(common_name.encode()).digest()[:8], "big"))
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def m2m_private_key_pem() -> str:
    """The sandbox's NetSuite M2M private key (PEM)."""
    return private_key_pem(_m2m_key())


@functools.cache
def m2m_certificate_pem() -> str:
    """The sandbox's NetSuite M2M certificate (PEM), valid for two years from first use."""
    return self_signed_certificate(_m2m_key(), common_name="accord-sandbox-m2m")
