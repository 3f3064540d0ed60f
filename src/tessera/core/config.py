"""Typed settings, read once from the environment (12-factor) and `.env`.

Names are `TESSERA_*`; the seeds' own names (`DATABASE_URL`, `SECRET_KEY`, …) are accepted
as aliases so their deployments keep working.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "secret",
        "your-secret-key",
        "your-secret-key-here",
        "dev-secret",
        "please-change-me",
        "supersecret",
    }
)
MIN_SECRET_BYTES = 32


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SchedulerMode(StrEnum):
    inprocess = "inprocess"  # every API process ticks the scheduler (claims keep runs unique)
    off = "off"  # a separate `tessera worker` runs the jobs


class CookieMode(StrEnum):
    browser = "browser"
    always = "always"
    never = "never"


class OidcProviderSettings(BaseModel):
    """One OpenID Connect provider: discovery at `<issuer>/.well-known/openid-configuration`."""

    issuer: str
    client_id: str
    client_secret: SecretStr | None = None
    scopes: str = "openid email profile"


class InsecureSettings(RuntimeError):
    """The settings are unsafe for the environment; the service refuses to start."""


def _alias(default: Any, *names: str) -> Any:
    return Field(default, validation_alias=AliasChoices(*names))


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class ModuleSettings(BaseSettings):
    """Base of a part's own settings class (its `config.py`), read from the environment and
    `.env` like `Settings`. Give it `model_config = SettingsConfigDict(env_prefix=...)` with
    the part's prefix (`TESSERA_TOKENS_`) and the seed's names as `validation_alias`es."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )


M = TypeVar("M", bound=ModuleSettings)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    env: Environment = Field(Environment.development, validation_alias="TESSERA_ENV")
    host: str = Field("127.0.0.1", validation_alias="TESSERA_HOST")
    port: int = Field(8000, validation_alias="TESSERA_PORT")
    workers: int | None = Field(None, ge=1, validation_alias="TESSERA_WORKERS")
    # HTTP server limits, per worker (see tessera.server and docs/operations.md)
    max_header_bytes: int = Field(32_768, ge=1024, validation_alias="TESSERA_MAX_HEADER_BYTES")
    header_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias="TESSERA_HEADER_TIMEOUT_SECONDS"
    )
    keep_alive_seconds: float = Field(5.0, gt=0, validation_alias="TESSERA_KEEP_ALIVE_SECONDS")
    max_connections: int = Field(1000, ge=1, validation_alias="TESSERA_MAX_CONNECTIONS")
    data_dir: Path = Field(Path("./var"), validation_alias="TESSERA_DATA_DIR")
    database_url: str | None = _alias(None, "TESSERA_DATABASE_URL", "DATABASE_URL")
    db_pool_size: int = Field(10, validation_alias="TESSERA_DB_POOL_SIZE")
    db_max_overflow: int = Field(20, validation_alias="TESSERA_DB_MAX_OVERFLOW")
    db_echo: bool = Field(False, validation_alias="TESSERA_DB_ECHO")
    redis_url: str | None = _alias(None, "TESSERA_REDIS_URL", "REDIS_URL")
    redis_prefix: str = Field("tessera", validation_alias="TESSERA_REDIS_PREFIX")
    # A Redis that accepts connections but never answers must not hang requests: every call
    # gives up after these, and the callers fall back (see docs/operations.md).
    redis_connect_timeout_seconds: float = Field(
        0.5, gt=0, validation_alias="TESSERA_REDIS_CONNECT_TIMEOUT_SECONDS"
    )
    redis_timeout_seconds: float = Field(
        0.5, gt=0, validation_alias="TESSERA_REDIS_TIMEOUT_SECONDS"
    )
    redis_retry_after_seconds: float = Field(
        2.0, ge=0, validation_alias="TESSERA_REDIS_RETRY_AFTER_SECONDS"
    )
    secret_key: SecretStr | None = _alias(None, "TESSERA_SECRET_KEY", "SECRET_KEY", "JWT_SECRET")
    # The enabled product modules; unset means every module shipped in this build.
    modules: Annotated[list[str] | None, NoDecode] = Field(None, validation_alias="TESSERA_MODULES")
    scheduler: SchedulerMode = Field(SchedulerMode.inprocess, validation_alias="TESSERA_SCHEDULER")
    scheduler_tick_seconds: float = Field(15.0, validation_alias="TESSERA_SCHEDULER_TICK_SECONDS")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("TESSERA_CORS_ORIGINS", "CORS_ORIGINS")
    )
    max_body_bytes: int = Field(1_048_576, validation_alias="TESSERA_MAX_BODY_BYTES")
    log_level: str = Field("INFO", validation_alias="TESSERA_LOG_LEVEL")
    log_json: bool = Field(True, validation_alias="TESSERA_LOG_JSON")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="TESSERA_TRUSTED_PROXIES"
    )
    # /docs, /redoc and /openapi.json: on unless production; this setting overrides.
    docs_enabled: bool | None = Field(None, validation_alias="TESSERA_DOCS_ENABLED")
    # Bearer token for /metrics. Unset: open outside production, not served in production.
    metrics_token: SecretStr | None = Field(None, validation_alias="TESSERA_METRICS_TOKEN")

    # Identity
    access_token_expire_minutes: int = _alias(
        30, "TESSERA_ACCESS_TOKEN_EXPIRE_MINUTES", "ACCESS_TOKEN_EXPIRE_MINUTES"
    )
    refresh_token_expire_days: int = _alias(
        7, "TESSERA_REFRESH_TOKEN_EXPIRE_DAYS", "REFRESH_TOKEN_EXPIRE_DAYS"
    )
    jwt_issuer: str = Field("tessera", validation_alias="TESSERA_JWT_ISSUER")
    jwt_audience: str = Field("tessera-api", validation_alias="TESSERA_JWT_AUDIENCE")
    admin_email: str | None = Field(None, validation_alias="TESSERA_ADMIN_EMAIL")
    admin_password: SecretStr | None = Field(None, validation_alias="TESSERA_ADMIN_PASSWORD")
    password_hash_fast: bool = Field(False, validation_alias="TESSERA_PASSWORD_HASH_FAST")
    smtp_host: str | None = Field(
        None, validation_alias=AliasChoices("TESSERA_SMTP_HOST", "SMTP_HOST")
    )
    smtp_port: int = Field(25, validation_alias=AliasChoices("TESSERA_SMTP_PORT", "SMTP_PORT"))
    smtp_from: str = Field("no-reply@tessera.local", validation_alias="TESSERA_SMTP_FROM")
    frontend_url: str = Field(
        "http://127.0.0.1:3000",
        validation_alias=AliasChoices("TESSERA_FRONTEND_URL", "FRONTEND_URL"),
    )
    # Where clients reach this service (links, redirect URIs, HSTS); default http://host:port.
    public_url: str | None = _alias(None, "TESSERA_PUBLIC_URL", "TESSERA_BASE_URL", "BASE_URL")

    # Identity: throttles (limits syntax, "N/period"), reset tokens, hashing ----------------
    login_account_limit: str = Field(
        "10/15 minutes", validation_alias="TESSERA_LOGIN_ACCOUNT_LIMIT"
    )
    login_ip_limit: str = Field("100/hour", validation_alias="TESSERA_LOGIN_IP_LIMIT")
    register_ip_limit: str = Field("10/hour", validation_alias="TESSERA_REGISTER_IP_LIMIT")
    password_reset_ip_limit: str = Field("10/hour", validation_alias="TESSERA_RESET_IP_LIMIT")
    password_reset_account_limit: str = Field(
        "5/hour", validation_alias="TESSERA_RESET_ACCOUNT_LIMIT"
    )
    password_reset_expire_minutes: int = Field(
        60, ge=1, le=60, validation_alias="TESSERA_PASSWORD_RESET_EXPIRE_MINUTES"
    )
    # Hashes at once on the whole machine (default: one per CPU), shared out among workers.
    password_hash_concurrency: int | None = Field(
        None, ge=1, validation_alias="TESSERA_PASSWORD_HASH_CONCURRENCY"
    )

    # Identity for browsers: cookies, CSRF, e-mail verification, two-factor, OpenID Connect ---
    # When login and register set session cookies: "browser" (the request names an Origin or
    # carries Sec-Fetch-* headers, as every browser does on a POST), "always" or "never".
    auth_cookies: CookieMode = Field(CookieMode.browser, validation_alias="TESSERA_AUTH_COOKIES")
    access_cookie_name: str = Field("tessera_access", validation_alias="TESSERA_ACCESS_COOKIE")
    refresh_cookie_name: str = Field("tessera_refresh", validation_alias="TESSERA_REFRESH_COOKIE")
    # Readable by the page (double-submit); axios sends it back as X-XSRF-TOKEN by default.
    csrf_cookie_name: str = Field("XSRF-TOKEN", validation_alias="TESSERA_CSRF_COOKIE")
    cookie_domain: str | None = Field(None, validation_alias="TESSERA_COOKIE_DOMAIN")
    # None: Secure whenever the public URL is https.
    cookie_secure: bool | None = Field(None, validation_alias="TESSERA_COOKIE_SECURE")
    email_verification_required: bool = Field(
        False, validation_alias="TESSERA_EMAIL_VERIFICATION_REQUIRED"
    )
    email_verification_expire_hours: int = Field(
        48, ge=1, le=168, validation_alias="TESSERA_EMAIL_VERIFICATION_EXPIRE_HOURS"
    )
    resend_verification_limit: str = Field(
        "3/hour", validation_alias="TESSERA_RESEND_VERIFICATION_LIMIT"
    )
    two_factor_limit: str = Field("5/5 minutes", validation_alias="TESSERA_TWO_FACTOR_LIMIT")
    two_factor_issuer: str = Field("Tessera", validation_alias="TESSERA_TWO_FACTOR_ISSUER")
    google_client_id: str | None = _alias(None, "TESSERA_GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_ID")
    google_client_secret: SecretStr | None = _alias(
        None, "TESSERA_GOOGLE_CLIENT_SECRET", "GOOGLE_CLIENT_SECRET"
    )
    oidc_google_issuer: str = Field(
        "https://accounts.google.com", validation_alias="TESSERA_OIDC_GOOGLE_ISSUER"
    )
    # Other providers: {"okta": {"issuer": …, "client_id": …, "client_secret": …}} (JSON).
    oidc_providers: dict[str, OidcProviderSettings] = Field(
        default_factory=dict, validation_alias="TESSERA_OIDC_PROVIDERS"
    )
    oidc_allow_signup: bool = _alias(False, "TESSERA_OIDC_ALLOW_SIGNUP", "OIDC_ALLOW_SIGNUP")

    @field_validator(
        "login_account_limit",
        "login_ip_limit",
        "register_ip_limit",
        "password_reset_ip_limit",
        "password_reset_account_limit",
        "resend_verification_limit",
        "two_factor_limit",
    )
    @classmethod
    def _rate_limit_syntax(cls, value: str) -> str:
        from limits import parse  # a typo fails at start-up, not at the first login

        parse(value)
        return value

    # Audit log: the sequencer's pace and promise, and the key that seals the tree-head key
    audit_max_merge_delay_seconds: float = Field(
        5.0, gt=0, le=3600, validation_alias="TESSERA_AUDIT_MAX_MERGE_DELAY_SECONDS"
    )
    audit_sequencer_interval_seconds: float = Field(
        0.5, gt=0, le=60, validation_alias="TESSERA_AUDIT_SEQUENCER_INTERVAL_SECONDS"
    )
    audit_kek: SecretStr | None = Field(None, validation_alias="TESSERA_AUDIT_KEK")

    # Ledger
    wallet_direct_deposits: bool | None = _alias(
        None, "TESSERA_WALLET_DIRECT_DEPOSITS", "WALLET_DIRECT_DEPOSITS"
    )

    # Settings objects of the parts' own settings classes, given directly (tests, embedding);
    # a class without one here is read from the environment on first use.
    module_settings: list[ModuleSettings] = Field(
        default_factory=list, exclude=True, validation_alias="TESSERA__MODULE_SETTINGS"
    )
    _module_cache: dict[type[ModuleSettings], ModuleSettings] = PrivateAttr(default_factory=dict)

    @field_validator("modules", "cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("CORS_ORIGINS must list explicit origins, never '*'")
        return value

    # Derived values -------------------------------------------------------------------------

    def module(self, kind: type[M]) -> M:
        """The settings of one part (`settings.module(TokensSettings)`), read once."""
        cached = self._module_cache.get(kind)
        if cached is None:
            given = [item for item in self.module_settings if type(item) is kind]
            cached = self._module_cache[kind] = given[0] if given else kind()
        assert isinstance(cached, kind)
        return cached

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def serves_docs(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else not self.is_production

    @property
    def uses_https(self) -> bool:
        """HSTS is sent when clients reach the service over https (TESSERA_PUBLIC_URL)."""
        return self.resolved_public_url.lower().startswith("https://")

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.uses_https

    @property
    def trusted_origins(self) -> frozenset[str]:
        """Origins whose pages may send cookie-authenticated writes (CSRF) and be redirected
        to after an outside sign-in: CORS_ORIGINS, FRONTEND_URL and this service itself."""
        urls = [*self.cors_origins, self.frontend_url, self.resolved_public_url]
        return frozenset(origin for origin in map(origin_of, urls) if origin)

    def oidc_provider(self, name: str) -> OidcProviderSettings | None:
        if name == "google" and self.google_client_id:
            return OidcProviderSettings(
                issuer=self.oidc_google_issuer,
                client_id=self.google_client_id,
                client_secret=self.google_client_secret,
            )
        return self.oidc_providers.get(name)

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    @property
    def worker_count(self) -> int:
        """`TESSERA_WORKERS`, else every CPU in production and one process elsewhere."""
        if self.workers is not None:
            return self.workers
        return (os.cpu_count() or 1) if self.is_production else 1

    @property
    def password_hash_slots(self) -> int:
        """Hashes one worker runs at once: the machine's share, split among the workers, so
        that two workers on two CPUs run two hashes together, not four."""
        machine = self.password_hash_concurrency or os.cpu_count() or 1
        return max(1, machine // self.worker_count)

    @property
    def direct_deposits_enabled(self) -> bool:
        if self.wallet_direct_deposits is not None:
            return self.wallet_direct_deposits
        return not self.is_production

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tessera.db').as_posix()}"

    def jwt_secret(self) -> str:
        """The signing secret; in development one is generated once and kept under data_dir."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        if self.is_production:
            raise InsecureSettings("SECRET_KEY is required in production")
        path = self.data_dir / "secret_key"
        if path.is_symlink():  # someone else chose where our secret lives, or what it is
            raise InsecureSettings(f"{path} is a symbolic link; refusing to use it")
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            _create_private_file(path, secrets.token_urlsafe(48))
        return path.read_text().strip()

    def check_safe(self) -> None:
        """Refuse unsafe settings outside development (called at start-up)."""
        if self.password_hash_fast and self.is_production:
            raise InsecureSettings(
                "TESSERA_PASSWORD_HASH_FAST weakens password hashing and is for tests only"
            )
        if self.env is Environment.development:
            return
        secret = self.secret_key.get_secret_value() if self.secret_key else ""
        if secret.strip().lower() in PLACEHOLDER_SECRETS:
            raise InsecureSettings(
                f"SECRET_KEY is missing or a placeholder; set a random value of at least "
                f"{MIN_SECRET_BYTES} bytes (TESSERA_ENV={self.env.value})"
            )
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise InsecureSettings(f"SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")


def _create_private_file(path: Path, text: str) -> None:
    """Create `path` with `text`, readable by its owner only from the first byte on (never
    readable by others for a moment, whatever the umask).

    The text is written to a private temporary file that is then hard-linked into place: the
    link is atomic and never replaces anything, so a process starting at the same moment reads
    either no file or the whole one, and a link planted at `path` is never written through.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        with contextlib.suppress(FileExistsError):  # another process won: use theirs
            os.link(temporary, path)
    finally:
        temporary.unlink()
    if path.is_symlink():
        raise InsecureSettings(f"{path} is a symbolic link; refusing to use it")


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased, or None when it has no host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        return None
    suffix = f":{port}" if port and port != default else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{suffix}"


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver for each engine."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
