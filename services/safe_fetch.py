"""Fetching a URL a client gave us, without letting it reach what only the gateway can reach (SSRF).

One guard for every outbound request to a client-chosen address (media URLs today; webhooks can
call `resolve` too): http(s) only, no credentials in the URL, no cloud metadata host, and every
address the name resolves to must be public unless an allow-list names it. The connection goes
to the address that was checked (no second DNS lookup to rebind), redirects are not followed,
and connect, read and size are bounded.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import urllib3

from core.errors import GatewayError
from models.enums import ErrorType

METADATA_HOSTS = {"metadata.google.internal", "metadata"}
READ_BYTES = 1024 * 1024


def refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local (cloud metadata lives at 169.254.169.254), multicast, reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified)


def bad_url(reason: str, field: str = "url") -> GatewayError:
    return GatewayError(422, f"url refused: {reason}", ErrorType.VALIDATION_ERROR, details={field: [reason]})


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str  # the checked address the connection goes to
    path: str  # path and query


def resolve(url: str, allowed: tuple = (), allow_setting: str = "MEDIA_URL_ALLOW_HOSTS") -> Target:
    """The URL's pinned target, else a 422 naming the reason; `allowed`: the networks the setting
    `allow_setting` lets through although private (on-premise servers)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise bad_url(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_url("only http:// and https:// URLs with a host")
    if parts.username or parts.password:
        raise bad_url("no credentials in the URL (put a token in its path or query instead)")
    host = parts.hostname
    if host in METADATA_HOSTS:
        raise bad_url(f"{host} is a cloud metadata service")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise bad_url(f"{host} does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    for address in addresses:
        if refused(address) and not any(address in network for network in allowed):
            raise bad_url(f"{host} resolves to {address}, a loopback, private, link-local or reserved "
                          f"address (allow it with {allow_setting} for an on-premise server)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, str(addresses[0]), path)


@dataclass
class Fetched:
    chunks: Iterator[bytes]  # the body, READ_BYTES at a time; raises a 4xx past `max_bytes`
    filename: str | None  # the last segment of the URL's path


def fetch(url: str, *, max_bytes: int, timeout_seconds: float, allowed: tuple = ()) -> Fetched:
    """GET `url` through the guard; the body streams, bounded by `max_bytes` and `timeout_seconds`
    overall (a slow trickle cannot hold a request thread forever)."""
    target = resolve(url, allowed)
    timeout = urllib3.Timeout(connect=min(10.0, timeout_seconds), read=timeout_seconds)
    headers = {"Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
               "User-Agent": "wagateway-media/1"}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(target.address, target.port, timeout=timeout, retries=False,
                                           server_hostname=target.host, assert_hostname=target.host)
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen("GET", target.path, headers=headers, redirect=False, preload_content=False,
                                assert_same_host=False)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        pool.close()
        raise bad_url(f"could not fetch: {type(exc).__name__}") from None
    if response.status != 200:
        response.release_conn()
        pool.close()
        raise bad_url(f"the server answered {response.status} (redirects are not followed)")
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        response.release_conn()
        pool.close()
        raise GatewayError(413, f"the file at the URL is larger than {max_bytes} bytes",
                           details={"url": [f"at most {max_bytes} bytes"]})
    name = unquote(target.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]) or None
    return Fetched(_body(response, pool, max_bytes, time.monotonic() + timeout_seconds), name)


def _body(response, pool, max_bytes: int, deadline: float) -> Iterator[bytes]:
    total = 0
    try:
        while True:
            try:
                chunk = response.read(READ_BYTES)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise bad_url(f"the download failed: {type(exc).__name__}") from None
            if not chunk:
                return
            total += len(chunk)
            if total > max_bytes:
                raise GatewayError(413, f"the file at the URL is larger than {max_bytes} bytes",
                                   details={"url": [f"at most {max_bytes} bytes"]})
            if time.monotonic() > deadline:
                raise bad_url("the download took too long")
            yield chunk
    finally:
        response.release_conn()
        pool.close()
