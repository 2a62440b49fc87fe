"""The decisions of plugin_server.server.security, without sockets."""

from __future__ import annotations

import pytest

from plugin_server.cli import main
from plugin_server.server import (
    DEFAULT_ORIGINS,
    AvatarServer,
    InsecureBindError,
    ServerConfig,
    check_bind,
    is_loopback,
    origin_allowed,
    request_token,
    token_ok,
)
from plugin_server.server.security import origin_matches


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)  # no token needed


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20", "10.0.0.1", "example.com", "my-pc"])
def test_exposed_hosts_need_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(InsecureBindError, match="token"):
        check_bind(host, None)
    check_bind(host, "s3cret")


def test_empty_token_is_refused() -> None:
    with pytest.raises(InsecureBindError):
        check_bind("127.0.0.1", "  ")


def test_server_refuses_to_start_exposed_without_token(model) -> None:
    with pytest.raises(InsecureBindError):
        AvatarServer(model, ServerConfig(host="0.0.0.0"))
    AvatarServer(model, ServerConfig(host="0.0.0.0", token="t"))  # constructed, never started


def test_serve_cli_refuses_exposed_bind_without_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0", "--model", "/nonexistent.pt"]) == 2
    err = capsys.readouterr().err
    assert "token" in err and "0.0.0.0" in err


def test_request_token_sources() -> None:
    assert request_token("/?token=abc", {}) == "abc"
    assert request_token("/ws?x=1&token=a%2Fb", {}) == "a/b"
    assert request_token("/", {"Authorization": "Bearer xyz"}) == "xyz"
    assert request_token("/", {"Authorization": "bearer  xyz "}) == "xyz"
    assert request_token("/?token=q", {"Authorization": "Bearer h"}) == "h"  # header first
    assert request_token("/", {"Authorization": "Basic dXNlcjpwdw=="}) is None
    assert request_token("/", {}) is None


def test_token_check() -> None:
    assert token_ok(None, None) and token_ok(None, "anything")
    assert token_ok("s3cret", "s3cret")
    assert not token_ok("s3cret", None)
    assert not token_ok("s3cret", "s3cre")
    assert not token_ok("s3cret", "S3CRET")
    assert not token_ok("s3cret", "")


@pytest.mark.parametrize(
    "origin",
    [
        None,  # native clients
        "http://localhost",
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "https://localhost:5173",
        "http://[::1]:8000",
        "null",  # file://
    ],
)
def test_default_origins_allowed(origin: str | None) -> None:
    assert origin_allowed(origin, DEFAULT_ORIGINS)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example:80",
        "http://evil.example/?http://localhost:3000",
        "ftp://localhost:21",
        "",
    ],
)
def test_other_origins_refused(origin: str) -> None:
    assert not origin_allowed(origin, DEFAULT_ORIGINS)


def test_origin_patterns() -> None:
    assert origin_matches("https://app.example", "https://app.example")
    assert origin_matches("HTTPS://APP.example", "https://app.example")
    assert not origin_matches("https://app.example:444", "https://app.example")
    assert origin_matches("https://app.example:444", "https://app.example:*")
    assert origin_matches("https://anything", "*")
    assert not origin_allowed("http://localhost:3000", ["https://app.example"])  # the list replaces
    assert origin_allowed(None, [])  # no Origin header: not a browser
