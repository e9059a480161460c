"""The HTTP tools refuse private destinations, before connecting and at every redirect."""

from __future__ import annotations

import ipaddress

import pytest

from tasks.shared.safehttp import SafeHttp, forbidden_reason, resolve_checked
from tests.support import Reply, wait_final
from worker.errors import Forbidden, NotFound

FORBIDDEN_ADDRESSES = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.10": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "100.64.0.1": "CGNAT",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "fc00::1": "private",
    "240.0.0.1": "reserved",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:169.254.169.254": "link-local",
    "64:ff9b::a9fe:a9fe": "link-local",
    "2002:7f00:1::": "loopback",
}


@pytest.mark.parametrize(("address", "label"), FORBIDDEN_ADDRESSES.items())
def test_every_forbidden_address_class_is_named(address, label):
    reason = forbidden_reason(ipaddress.ip_address(address))

    assert reason is not None
    assert label in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host", ["localhost", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::1]"]
)
def test_loopback_spellings_resolve_to_a_refusal(host):
    with pytest.raises(Forbidden, match="loopback"):
        resolve_checked(host.strip("[]"), 80)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "2130706433",
        "0x7f.0.0.1",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
    ],
)
def test_guard_opens_no_connection_to_a_forbidden_address(server, host):
    # The scripted server listens on 127.0.0.1: any connection would be counted.
    url = server.route("/secret", Reply(200, {"secret": True})).replace("localhost", host)

    with pytest.raises(Forbidden):
        SafeHttp().request("GET", url)

    assert server.connections == 0


def test_a_name_that_does_not_resolve_is_not_found():
    with pytest.raises(NotFound, match="cannot resolve"):
        resolve_checked("no-such-host.invalid", 80)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"])
def test_only_http_and_https_are_allowed(url):
    with pytest.raises(Forbidden, match="only http and https"):
        SafeHttp().request("GET", url)


def test_allowed_host_is_reached_but_its_redirect_to_loopback_is_refused_at_the_hop(server):
    target = server.url("/secret", host="127.0.0.1")
    url = server.route("/redirect", Reply(302, headers={"Location": target}))

    with pytest.raises(Forbidden, match=r"127\.0\.0\.1 is loopback"):
        SafeHttp(allowed_hosts=["localhost"]).request("GET", url)

    assert [s.path for s in server.seen] == ["/redirect"]


def test_redirects_between_allowed_hosts_are_followed(server):
    server.route("/b", Reply(200, {"at": "b"}))
    url = server.route("/a", Reply(301, headers={"Location": "/b"}))

    fetched = SafeHttp(allowed_hosts=["localhost"]).request("GET", url)

    assert fetched.status == 200
    assert fetched.url.endswith("/b")


@pytest.mark.usefixtures("fleet_worker")
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://10.0.0.1/",
    ],
)
def test_the_worker_dead_letters_forbidden_urls_without_connecting(client, server, url):
    server.route("/secret", Reply(200, {"secret": True}))

    call = client.call("http.request", {"url": url.format(port=server.port)})

    with pytest.raises(Forbidden, match="refused"):
        call.get(timeout=20)
    row = wait_final(call.id)
    assert (row["status"], row["attempts"], row["error"]["type"]) == ("dead", 1, "Forbidden")
    assert server.connections == 0


@pytest.mark.usefixtures("fleet_worker")
def test_the_worker_refuses_a_redirect_to_loopback_at_the_hop(client, server):
    url = server.route("/hop", Reply(302, headers={"Location": server.url("/x", "127.0.0.1")}))

    call = client.call("http.request", {"url": url})

    with pytest.raises(Forbidden, match="loopback"):
        call.get(timeout=20)
    assert [s.path for s in server.seen] == ["/hop"]
