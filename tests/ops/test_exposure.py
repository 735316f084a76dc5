"""Plain HTTP beyond loopback is refused, by `serve` and by the app's start-up."""

from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from service.cli import main
from service.config import Settings
from service.main import create_app
from service.ops.exposure import UnsafeExposure, check_exposure


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_may_use_plain_http(host: str, data_dir: Path) -> None:
    check_exposure(Settings(data_dir=data_dir, host=host))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "ONEBUDGET_TLS_TERMINATED_UPSTREAM=true"),
        ({"issuer": "https://budgets.example.org"}, "ONEBUDGET_TLS_TERMINATED_UPSTREAM=true"),
        ({"tls_terminated_upstream": True}, "ONEBUDGET_ISSUER"),
        (
            {"tls_terminated_upstream": True, "issuer": "http://budgets.example.org"},
            "ONEBUDGET_ISSUER",
        ),
    ],
)
def test_beyond_loopback_needs_tls_in_front_and_an_https_issuer(
    fields: dict[str, object], message: str, data_dir: Path
) -> None:
    settings = Settings(data_dir=data_dir, host="0.0.0.0", **fields)  # type: ignore[arg-type]
    with pytest.raises(UnsafeExposure, match=message):
        check_exposure(settings)


def test_beyond_loopback_behind_tls_with_an_https_issuer_is_allowed(data_dir: Path) -> None:
    check_exposure(
        Settings(
            data_dir=data_dir,
            host="0.0.0.0",
            tls_terminated_upstream=True,
            issuer="https://budgets.example.org",
        )
    )


def test_serve_refuses_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    monkeypatch.setenv("ONEBUDGET_DATA_DIR", str(data_dir))
    monkeypatch.delenv("ONEBUDGET_ISSUER", raising=False)
    monkeypatch.delenv("ONEBUDGET_TLS_TERMINATED_UPSTREAM", raising=False)
    from service.config import get_settings

    get_settings.cache_clear()
    try:
        assert main(["serve", "--host", "0.0.0.0", "--port", "8999"]) == 2
    finally:
        get_settings.cache_clear()
    assert "refusing to listen on 0.0.0.0" in capsys.readouterr().err


async def test_the_app_refuses_to_start(data_dir: Path, database_url: str) -> None:
    app = create_app(
        Settings(data_dir=data_dir, host="0.0.0.0"), database_url=database_url, migrate=False
    )
    with pytest.raises(UnsafeExposure):
        async with LifespanManager(app):
            pass
