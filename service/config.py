"""Settings, read once from the environment (prefix ONEBUDGET_, plus plain DATABASE_URL)."""

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, IPvAnyNetwork, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return platformdirs.user_data_path("onebudget")


class Settings(BaseSettings):
    """Everything an operator may set; defaults run a laptop demo."""

    model_config = SettingsConfigDict(env_prefix="ONEBUDGET_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "ONEBUDGET_DATABASE_URL"),
        description="postgresql://user@host:port/dbname; unset = embedded PostgreSQL in data_dir",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    issuer: str | None = Field(
        default=None, description="Token issuer URL; defaults to http://host:port"
    )
    audience: str = "onebudget"
    token_lifetime_seconds: int = Field(default=600, gt=0, le=86_400)
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024
    db_pool_size: int = 10
    commitment_sweep_seconds: float = 30.0
    idempotency_retention_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 366,
        description="Idempotency answers are kept this long; after it a key is new again",
    )
    idempotency_purge_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="How often each worker tries to purge expired idempotency answers",
    )
    approval_window_days: int = Field(
        default=7,
        ge=0,
        le=366,
        description="Spends of the same category and payee this many days back count"
        " together against a stream's approval threshold",
    )
    tls_terminated_upstream: bool = Field(
        default=False,
        description="TLS ends at a proxy in front; required to listen beyond loopback",
    )
    header_read_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    body_read_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    keep_alive_timeout_seconds: int = Field(default=5, gt=0, le=300)
    docs: bool = Field(default=True, description="serve /docs, /redoc and /openapi.json")
    graphql_ide: bool = Field(
        default=False,
        description="serve GraphiQL at GET /graphql and answer introspection (on with --demo)",
    )
    metrics: bool = Field(default=True, description="serve /metrics")
    metrics_token: SecretStr | None = Field(
        default=None, description="if set, /metrics needs Authorization: Bearer <token>"
    )
    agency_credentials_file: Path | None = Field(
        default=None,
        description="JSON secrets file (mode 0600): {agency id: {name: value}}, for agency"
        " connections made without --credentials",
    )
    agency_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="each call to an agency's system, at most"
    )
    agency_retry_attempts: int = Field(default=6, ge=1, le=50)
    agency_retry_total_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="all attempts of one call to an agency"
    )
    agency_retry_wait_initial_seconds: float = Field(default=0.2, ge=0, le=60)
    agency_retry_wait_max_seconds: float = Field(default=5.0, ge=0, le=600)
    agency_page_size: int = Field(default=100, ge=1, le=500)
    agency_push_batch: int = Field(
        default=50, ge=1, le=1000, description="spend lines reported per call, at most"
    )
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Networks webhook URLs may reach although not public, over http too"
        ' (JSON, e.g. ["127.0.0.0/8"] for a sandbox); by default only public https URLs',
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Each webhook call: connect, send and answer"
    )
    webhook_retry_first_seconds: float = Field(
        default=5.0, gt=0, le=86_400, description="Wait after a webhook's first failed attempt"
    )
    webhook_retry_max_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86_400,
        description="The wait doubles after each failure up to this, then stays (jittered)",
    )
    webhook_budget_low_percent: int = Field(
        default=10,
        ge=0,
        le=100,
        description="budget.low is sent when a spend or commitment takes a budget's available"
        " money below this percentage of its funded money",
    )
    webhook_retention_days: int = Field(
        default=30, ge=1, le=3660, description="Delivered webhook messages are kept this long"
    )
    worker_concurrency: int = Field(
        default=10, ge=1, le=1000, description="Jobs one `onebudget worker` runs at once"
    )
    worker_heartbeat_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="A job whose worker died (killed, cut off) is run again by another worker"
        " once its heartbeat is this old; a running job beats every half of it",
    )
    # GraphQL limits (schema/limits.py): the defaults let a caseload page pass, 50 budgets with
    # their streams and last 10 spends with lines (cost about 9,300), and refuse two lists of
    # 100 nested (20,301 at the least).
    graphql_max_depth: int = Field(
        default=12,
        ge=1,
        le=100,
        description="GraphQL: fields nested on an operation's longest path",
    )
    graphql_max_aliases: int = Field(
        default=20, ge=0, le=1000, description="GraphQL: aliased fields in one operation"
    )
    graphql_max_tokens: int = Field(
        default=2000, ge=200, le=100_000, description="GraphQL: lexical tokens in one document"
    )
    graphql_max_cost: int = Field(
        default=15_000,
        ge=1,
        le=10_000_000,
        description="GraphQL: objects and list items one operation may return, estimated",
    )

    @property
    def token_issuer(self) -> str:
        """The `iss` of every token this service signs."""
        return self.issuer or f"http://{self.host}:{self.port}"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
