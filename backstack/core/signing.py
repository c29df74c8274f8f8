"""The keys that sign and verify access tokens: the project's HS256 secret, plus optional ES256/RS256 keys.

By default every token is HS256 with the project secret, as in a stock Supabase project. A project
can instead sign user tokens with an asymmetric key (settings `jwt_signing_key`: a PEM file or a
private JWK), so other services verify them with the public half only, published as a JWKS
(`/auth/v1/.well-known/jwks.json`). `jwt_verification_keys` adds public keys that are accepted but
never used to sign (the previous key during a rotation). The anon and service_role API keys stay
HS256 with the secret either way.

Verification never lets a token pick its own key: the algorithm must be on the allow-list
(HS256 for the secret, ES256/RS256 for configured keys of that type), and the `kid` header only
selects among *our* configured keys (a `kid` we do not have fails). `jku`, `x5u`, `jwk` and `x5c`
headers are ignored, so a token cannot point at a key it brings along. pyjwt is told the one
algorithm of the key it checks with, which rules out the classic confusion of verifying an
"HS256" token with an RSA public key as the HMAC secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

HS256 = "HS256"
ASYMMETRIC = ("ES256", "RS256")
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}
MIN_RSA_BITS = 2048


class KeyConfigError(ValueError):
    """A configured key that cannot be used (unreadable, wrong type, too weak); says which and why."""


@dataclass(frozen=True, slots=True)
class AsymmetricKey:
    """One ES256 or RS256 key: the public half always, the private half when it signs."""

    kid: str
    alg: str
    public: Any
    private: Any | None = None

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517), as a JWKS lists it."""
        if self.alg == "ES256":
            jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(self.public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"], "ext": True}


class KeySet:
    """Signs access tokens with the configured key and verifies tokens against our keys only."""

    def __init__(
        self, secret: str, signing: AsymmetricKey | None = None, others: tuple[AsymmetricKey, ...] = ()
    ) -> None:
        self.secret = secret
        self.signing = signing
        self.verifying = ((signing,) if signing else ()) + others

    @property
    def algorithm(self) -> str:
        """The algorithm new access tokens are signed with."""
        return self.signing.alg if self.signing else HS256

    def sign(self, payload: dict[str, Any]) -> str:
        if self.signing is not None:
            key: Any = self.signing.private
            return jwt.encode(payload, key, algorithm=self.signing.alg, headers={"kid": self.signing.kid})
        return jwt.encode(payload, self.secret, algorithm=HS256)

    def decode(self, token: str, options: jwt.types.Options) -> dict[str, Any]:
        """The verified claims; pyjwt's errors (InvalidAlgorithmError for an algorithm we do not accept)."""
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg == HS256:
            if not self.secret:
                raise jwt.InvalidTokenError("no HS256 secret configured")
            claims: dict[str, Any] = jwt.decode(token, self.secret, algorithms=[HS256], options=options)
            return claims
        if alg not in ASYMMETRIC or not any(k.alg == alg for k in self.verifying):
            raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
        kid = header.get("kid")
        candidates = [k for k in self.verifying if k.alg == alg and (kid is None or k.kid == kid)]
        if not candidates:
            raise jwt.InvalidTokenError("unknown kid")
        error: jwt.InvalidTokenError = jwt.InvalidSignatureError("Signature verification failed")
        for key in candidates:
            try:
                claims = jwt.decode(token, key.public, algorithms=[alg], options=options)
            except jwt.InvalidSignatureError as exc:
                error = exc
                continue
            return claims
        raise error

    def jwks(self) -> dict[str, Any]:
        """`{"keys": [...]}` with the public keys (empty with HS256 only: the secret is never published)."""
        return {"keys": [key.public_jwk() for key in self.verifying]}


def build_key_set(
    secret: str,
    signing_key: str = "",
    verification_keys: list[str] | tuple[str, ...] = (),
    base_dir: Path | None = None,
) -> KeySet:
    """The key set for these settings values; `KeyConfigError` when a key is unusable."""
    signing = load_key(signing_key, base_dir, private=True) if signing_key.strip() else None
    others = tuple(load_key(spec, base_dir, private=False) for spec in verification_keys if spec.strip())
    return KeySet(secret, signing, others)


def load_key(spec: str, base_dir: Path | None, *, private: bool) -> AsymmetricKey:
    """A key from a JWK (JSON text) or a PEM file path (relative to `base_dir`)."""
    spec = spec.strip()
    kid = ""
    if spec.startswith("{"):
        try:
            jwk = json.loads(spec)
            kid = str(jwk.get("kid") or "")
            key: Any = jwt.PyJWK(jwk).key
        except (ValueError, jwt.PyJWKError, AttributeError) as exc:
            raise KeyConfigError(f"invalid JWK: {exc}") from None
        where = "the JWK"
    else:
        path = Path(spec)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        where = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyConfigError(f"cannot read key file {path}: {exc.strerror}") from None
        key = _load_pem(data, where)
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        private_key, public_key = key, key.public_key()
    elif isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        private_key, public_key = None, key
    else:
        raise KeyConfigError(f"{where}: only EC P-256 (ES256) and RSA (RS256) keys are supported")
    if private and private_key is None:
        raise KeyConfigError(f"{where}: the signing key must be a private key")
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise KeyConfigError(f"{where}: EC keys must be on curve P-256 (ES256)")
        alg = "ES256"
    else:
        if public_key.key_size < MIN_RSA_BITS:
            raise KeyConfigError(f"{where}: RSA keys need at least {MIN_RSA_BITS} bits")
        alg = "RS256"
    probe = AsymmetricKey(kid="", alg=alg, public=public_key)
    return AsymmetricKey(kid=kid or thumbprint(probe.public_jwk()), alg=alg, public=public_key, private=private_key)


def _load_pem(data: bytes, where: str) -> Any:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        pass
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyConfigError(f"{where}: not an unencrypted PEM private or public key") from None


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of a public JWK (base64url SHA-256 of its required members), used as `kid`."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
