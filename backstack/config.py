"""Settings: `backstack.toml` in the project folder, then `BACKSTACK_*` environment variables.

The only module that reads `os.environ`. Every field has a default and a description; the
descriptions feed `docs/settings.md` (a test keeps them in step).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE = "backstack.toml"
RATE_PATTERN = r"^\d+/\d*[smh]?$"  # "30/5m": 30 per 5 minutes; "10/60": 10 per 60 seconds


class OAuthProviderSettings(BaseModel):
    """One external sign-in provider under `[auth_external.<name>]`; `<name>` is the `provider=` of /authorize."""

    kind: Literal["oidc", "github", "google"] = Field(
        "oidc", description="oidc: any OpenID Connect provider (issuer discovery); github, google: presets."
    )
    enabled: bool = Field(True, description="Offer this provider (listed in /settings `external`).")
    client_id: str = Field("", description="The OAuth client id registered with the provider.")
    client_secret: str = Field("", description="The OAuth client secret.")
    issuer: str = Field("", description="OIDC issuer URL; discovery at <issuer>/.well-known/openid-configuration.")
    discovery_url: str = Field("", description="OIDC discovery document URL, when not under the issuer.")
    scopes: list[str] = Field([], description="Scopes always asked for (preset default when empty).")
    redirect_uri: str = Field(
        "", description="Callback URL registered with the provider. Default: <site_url>/auth/v1/callback."
    )
    authorize_url: str = Field("", description="Override of the preset's authorization endpoint.")
    token_url: str = Field("", description="Override of the preset's token endpoint.")
    userinfo_url: str = Field("", description="Override of the preset's user endpoint (GitHub: its API base).")
    pkce: bool = Field(True, description="Use PKCE (S256) towards the provider.")


class Settings(BaseSettings):
    """One typed object with every setting backstack reads."""

    model_config = SettingsConfigDict(env_prefix="BACKSTACK_", extra="ignore", populate_by_name=True)

    project_dir: Path = Field(
        Path("."), description="Project folder holding backstack.toml, migrations/ and .backstack/."
    )
    database_url: str | None = Field(
        None,
        description="PostgreSQL URL (postgresql://...). Unset: the SQLite file .backstack/app.db. "
        "Also read from DATABASE_URL.",
    )
    jwt_secret: str = Field("", description="HS256 secret that signs the anon/service_role keys and user tokens.")
    jwt_expiry: int = Field(3600, description="Lifetime of access tokens in seconds.")
    api_key_expiry_years: int = Field(10, description="Lifetime of the generated anon and service_role keys, in years.")
    api_keys_issued_at: int = Field(
        0,
        description="Unix time the anon/service_role keys were issued; `init` records it so the keys never change. "
        "0: a fixed date (2025-01-01).",
    )
    host: str = Field("127.0.0.1", description="Address `backstack serve` listens on.")
    port: int = Field(8000, description="Port `backstack serve` listens on.")
    workers: int = Field(
        0,
        ge=0,
        description="Worker processes for `backstack serve`; 0: one per CPU core the process may run on "
        "(`--workers N` overrides).",
    )
    shutdown_grace_seconds: int = Field(
        20,
        ge=1,
        description="On SIGTERM or Ctrl-C, how long the requests already read may take to finish before the "
        "workers are killed; below the process manager's stop timeout (systemd 90 s, Kubernetes 30 s).",
    )
    site_url: str = Field("", description="Public URL of the API, printed by `serve`; defaults to http://HOST:PORT.")
    public_dir: str = Field(
        "public",
        description="Folder served at / as a static site (relative to the project folder, or absolute) when it "
        "exists: content-hashed names cached for a year, the rest revalidated, unknown HTML paths answered by "
        "its index.html; API paths are never served from it. Empty or missing: the landing page at /. The project "
        "folder, a folder above it or .backstack/ is refused (it would publish the jwt_secret). See docs/hosting.md.",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="SQLite durability: NORMAL survives process crashes (WAL); FULL also survives power loss.",
    )
    sqlite_busy_timeout_ms: int = Field(5000, description="How long a SQLite writer waits for another process's lock.")
    sqlite_readers: int = Field(4, description="Reader connections (threads) per worker on SQLite.")
    db_pool_min: int = Field(1, description="Minimum PostgreSQL connections per worker.")
    db_pool_max: int = Field(10, description="Maximum PostgreSQL connections per worker.")
    db_connect_timeout: float = Field(
        3.0, description="Seconds to wait for a PostgreSQL connection before answering 503."
    )
    statement_timeout_ms: int = Field(10000, description="Longest a single data API statement may run.")
    max_rows: int = Field(1000, description="Most rows one data API read returns (Supabase's default max rows).")
    max_body_bytes: int = Field(10 * 1024 * 1024, description="Largest request body accepted; larger answers 413.")
    max_url_bytes: int = Field(16 * 1024, description="Longest request target accepted; longer answers 414.")
    max_header_bytes: int = Field(32 * 1024, description="Largest total size of request headers; larger answers 431.")
    body_read_timeout: float = Field(
        30.0, description="Seconds a request body may stall between two chunks before the request fails with 408."
    )
    header_read_timeout: float = Field(
        30.0, description="Seconds a client may take to send the request headers before the connection is closed."
    )
    max_filter_terms: int = Field(500, description="Most filter terms (incl. inside or=/and=) one request may carry.")
    max_nesting: int = Field(16, description="Deepest nesting of embeds and logic trees in one request.")
    exposed_schemas: list[str] = Field(["public"], description="Schemas the data API exposes (Accept-Profile).")
    schema_poll_seconds: float = Field(
        0.5,
        description=(
            "Safety-net poll for schema changes made elsewhere (PostgreSQL event triggers and SQLite's "
            "schema_version already make the next request see them)."
        ),
    )
    openapi: bool = Field(True, description="Serve the OpenAPI description at GET /rest/v1/.")
    realtime_max_connections: int = Field(
        10_000, description="Most realtime websockets one worker accepts; more are refused at the upgrade (403)."
    )
    realtime_max_channels: int = Field(
        100, description="Most channels one realtime socket may join (Supabase's max_channels_per_client)."
    )
    realtime_max_message_bytes: int = Field(
        1024 * 1024, description="Largest realtime frame a client may send; larger closes the socket (1009)."
    )
    realtime_queue_frames: int = Field(
        1024,
        description="Frames queued for one realtime socket; a client that falls further behind is disconnected.",
    )
    realtime_joins_per_second: float = Field(
        2500.0,
        description="Channel joins a realtime worker accepts per second, all sockets together "
        "(more answer ClientJoinRateLimitReached).",
    )
    realtime_messages_per_second: float = Field(
        2500.0,
        description="Broadcast and presence messages a realtime worker accepts per second from its clients "
        "(more are dropped with MessagePerSecondRateLimitReached).",
    )
    realtime_idle_seconds: float = Field(
        60.0, description="Seconds a realtime socket may stay silent (no heartbeat) before it is closed."
    )
    auth_email_confirm: bool = Field(
        False,
        description="Require new users to confirm their email before signing in (GoTrue's autoconfirm off). "
        "Off: sign-up returns a session at once.",
    )
    auth_disable_signup: bool = Field(
        False, description="Refuse new sign-ups at /auth/v1/signup (422 signup_disabled)."
    )
    auth_password_min_length: int = Field(8, description="Shortest password accepted at sign-up (422 weak_password).")
    auth_refresh_token_reuse_interval: int = Field(
        10,
        description="Seconds after a refresh during which an older refresh token of the session is still accepted "
        "(concurrent tabs); reuse outside it ends the session.",
    )
    auth_otp_expiry: int = Field(
        3600, description="Seconds an emailed link or 6-digit code (signup, magic link, recovery, invite) stays valid."
    )
    auth_otp_length: int = Field(6, description="Digits of the one-time codes sent by email (6-10).")
    auth_site_url: str = Field(
        "",
        description="Your app's URL: where email links land after verification when no (allowed) redirect_to "
        "is given. Default: site_url.",
    )
    auth_redirect_urls: list[str] = Field(
        [],
        description="Further allowed redirect_to targets for email links, as glob patterns "
        "(e.g. http://localhost:3000/**). The host of auth_site_url is always allowed.",
    )
    auth_secure_email_change: bool = Field(
        True,
        description="An email change needs confirming from both the old and the new address (GoTrue's "
        "secure email change); off: the new address alone.",
    )
    auth_password_change_needs_reauthentication: bool = Field(
        False,
        description="PUT /auth/v1/user with a password needs the nonce from /reauthenticate when the session "
        "is older than 24 hours.",
    )
    auth_password_change_needs_current_password: bool = Field(
        False, description="PUT /auth/v1/user with a new password must carry current_password (except recovery)."
    )
    smtp_host: str = Field(
        "",
        description="SMTP server for auth emails. Unset: mails go to the dev inbox (`backstack mail` lists them).",
    )
    smtp_port: int = Field(587, description="SMTP server port.")
    smtp_user: str = Field("", description="SMTP user name (empty: no login).")
    smtp_password: str = Field("", description="SMTP password.")
    smtp_security: Literal["auto", "starttls", "tls", "none"] = Field(
        "auto",
        description="auto: STARTTLS when the server offers it; starttls: required; tls: implicit TLS (port 465); "
        "none: plain text.",
    )
    smtp_sender: str = Field("noreply@localhost", description="From address of auth emails.")
    smtp_sender_name: str = Field("", description="Display name next to smtp_sender.")
    smtp_timeout: float = Field(10.0, description="Seconds to wait for the SMTP server.")
    redis_url: str | None = Field(
        None,
        description="Redis URL (redis://127.0.0.1:6379/0). Set: rate-limit counters are shared by every node "
        "through it; unset: each process counts alone. Also read from REDIS_URL.",
    )
    redis_prefix: str = Field("backstack:", description="Prefix of every Redis key backstack writes.")
    auth_rate_limit_enabled: bool = Field(
        True, description="Rate-limit sign-in, sign-up, OTP, recovery, verification and resend (429 when over)."
    )
    auth_rate_limit_ip_header: str = Field(
        "",
        description="Header naming the client address for per-IP limits (e.g. X-Forwarded-For: its last hop, "
        "the one your proxy appended), set only behind such a proxy. Empty: the connection's peer address.",
    )
    auth_rate_limit_sign_in: str = Field(
        "30/5m",
        pattern=RATE_PATTERN,
        description="Password sign-ins and sign-ups per IP address (COUNT/PERIOD, period in s, m or h; 0 = "
        "no limit). Over it: 429 over_request_rate_limit.",
    )
    auth_rate_limit_sign_in_address: str = Field(
        "10/5m",
        pattern=RATE_PATTERN,
        description="Failed password sign-ins per email address or phone, from any IP (brute force against "
        "one account; a successful sign-in gives its count back). Over it: 429 over_request_rate_limit.",
    )
    auth_rate_limit_otp: str = Field(
        "30/5m",
        pattern=RATE_PATTERN,
        description="Requests per IP address to /otp, /magiclink, /recover and /resend. Over it: 429 "
        "over_request_rate_limit.",
    )
    auth_rate_limit_verify: str = Field(
        "30/5m",
        pattern=RATE_PATTERN,
        description="Requests per IP address to /verify (OTP and link checks). Over it: 429 over_request_rate_limit.",
    )
    auth_rate_limit_verify_address: str = Field(
        "10/5m",
        pattern=RATE_PATTERN,
        description="Failed code verifications (POST /verify with email and token) per email address, from any "
        "IP (guessing one user's code; a success gives its count back). Over it: 429 over_request_rate_limit.",
    )
    auth_rate_limit_email_address: str = Field(
        "5/1h",
        pattern=RATE_PATTERN,
        description="Mails sent to one address (confirmation, magic link, OTP, recovery, resend) per period. "
        "Over it: 429 over_email_send_rate_limit.",
    )
    auth_anonymous_users: bool = Field(
        False,
        description="Allow anonymous sign-ins (POST /auth/v1/signup without email or phone): each call creates a "
        "user with is_anonymous=true. Off as in GoTrue: 422 anonymous_provider_disabled.",
    )
    jwt_signing_key: str = Field(
        "",
        description="Key that signs user access tokens instead of the HS256 secret: a PEM file (path relative to "
        "the project folder) or a private JWK as JSON; EC P-256 gives ES256, RSA (2048+ bits) RS256. Its public "
        "half is served at /auth/v1/.well-known/jwks.json. Empty: HS256 with jwt_secret.",
    )
    jwt_verification_keys: list[str] = Field(
        [],
        description="More public keys (PEM paths or JWKs) whose ES256/RS256 tokens are accepted and listed in the "
        "JWKS, never used to sign: the previous signing key during a rotation.",
    )
    auth_external: dict[str, OAuthProviderSettings] = Field(
        {},
        description="External OAuth/OIDC sign-in providers by name: `[auth_external.github]` with kind "
        "(oidc, github, google), client_id, client_secret, issuer (oidc), scopes, redirect_uri. "
        "See docs/auth.md.",
    )
    auth_manual_linking: bool = Field(
        False,
        description="Signed-in users may link more OAuth identities (GET /auth/v1/user/identities/authorize) "
        "and unlink them (DELETE /auth/v1/user/identities/{id}); GoTrue's manual linking.",
    )
    auth_flow_state_expiry: int = Field(
        300,
        description="Seconds an OAuth sign-in may spend at the provider, and a PKCE auth code stays exchangeable.",
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    log_json: bool = Field(True, description="Structured JSON access logs on stdout.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _toml_path(init_settings)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def data_dir(self) -> Path:
        """Where the embedded engines keep their files (git-ignored)."""
        return self.project_dir / ".backstack"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "app.db"

    @property
    def public_url(self) -> str:
        return self.site_url or f"http://{self.host}:{self.port}"


def available_cores() -> int:
    """CPU cores this process may run on: its affinity where the OS keeps one, else the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _toml_path(init_settings: PydanticBaseSettingsSource) -> Path | None:
    project = init_settings().get("project_dir") or os.environ.get("BACKSTACK_PROJECT_DIR") or "."
    path = Path(project) / CONFIG_FILE
    return path if path.is_file() else None


def load_settings_from_env() -> Settings:
    """Settings for the project named by BACKSTACK_PROJECT_DIR (default: the current folder).

    Server workers build their app with this: `backstack serve` passes its options through the
    environment so every worker process sees the same settings.
    """
    return load_settings(os.environ.get("BACKSTACK_PROJECT_DIR") or ".")


def load_settings(project_dir: Path | str = ".", **overrides: Any) -> Settings:
    """Settings for the project in `project_dir`: file, then BACKSTACK_* env, then `overrides`.

    `DATABASE_URL` and `REDIS_URL` (the conventional names) are honoured when the BACKSTACK_ ones are not set.
    """
    values: dict[str, Any] = {"project_dir": Path(project_dir)}
    if "database_url" not in overrides and "BACKSTACK_DATABASE_URL" not in os.environ:
        url = os.environ.get("DATABASE_URL")
        if url:
            values["database_url"] = url
    if "redis_url" not in overrides and "BACKSTACK_REDIS_URL" not in os.environ and os.environ.get("REDIS_URL"):
        values["redis_url"] = os.environ["REDIS_URL"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
