"""What authenticates one call never reaches anyone else: no cookie carries from one run
to the next, credentials and sensitive headers are dropped when a redirect changes
scheme, host or port, and a named credential goes over plain http only where allowed.

Every test reads what the real servers (127.0.0.1, two ports; https and http on one
port) actually received."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme

from tasks.http.secrets import HttpCredential
from tasks.shared.safehttp import SafeHttp, _tls_context
from tests.conftest import PARTNER_SECRET, TLS_ONLY_SECRET
from tests.support import Reply, ScriptedServer, wait_final
from worker.errors import Forbidden

SENSITIVE = {
    "Authorization": "Bearer agent-own-token",
    "Cookie": "session=agent-own",
    "Proxy-Authorization": "Basic cHJveHk6cHc=",
}


@pytest.fixture
def other_port() -> Iterator[ScriptedServer]:
    """A second server on the same host name, another port: another origin."""
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A test CA the in-process client trusts (added to the process's one TLS context)."""
    authority = trustme.CA()
    authority.configure_trust(_tls_context())
    return authority


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[ScriptedServer]:
    """Answers https and plain http on one port, as localhost."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    srv = ScriptedServer(tls=context)
    yield srv
    srv.close()


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


# --- cookies -------------------------------------------------------------------------


@pytest.mark.usefixtures("fleet_worker")
@pytest.mark.parametrize("credential", [None, "partner"])
def test_a_cookie_set_for_one_run_is_never_sent_by_a_later_run(client, server, credential):
    login = server.route("/login", Reply(200, {}, {"Set-Cookie": "session=agent-a; Path=/"}))
    later = server.route("/account", Reply(200, {}))
    # Run A (one agent) is answered with a session cookie ...
    client.call("http.request", {"url": login}, agent_task_id="agent-a").get(timeout=20)

    # ... and every later run on that host, by other agents, on every worker thread.
    params = {"url": later} | ({"credential": credential} if credential else {})
    calls = [client.call("http.request", params, agent_task_id="agent-b") for _ in range(12)]
    for call in calls:
        call.get(timeout=20)

    seen = server.requests_to("/account")
    assert len(seen) == 12
    assert [s.headers.get("Cookie") for s in seen] == [None] * 12


@pytest.mark.usefixtures("fleet_worker")
def test_a_cookie_set_by_a_redirect_is_not_sent_to_the_next_hop_either(client, server):
    server.route("/landing", Reply(200, {}))
    url = server.route(
        "/sets-and-moves", Reply(302, headers={"Set-Cookie": "s=1; Path=/", "Location": "/landing"})
    )

    client.call("http.request", {"url": url}).get(timeout=20)

    assert "Cookie" not in server.requests_to("/landing")[0].headers


# --- redirects -------------------------------------------------------------------------


@pytest.mark.usefixtures("fleet_worker")
def test_a_redirect_to_another_port_of_the_same_host_carries_no_credential(
    client, server, other_port
):
    other_port.route("/landing", Reply(200, {}))
    url = server.route("/moved", Reply(302, headers={"Location": other_port.url("/landing")}))
    headers = {**SENSITIVE, "X-Trace": "t-1"}

    call = client.call("http.request", {"url": url, "headers": headers, "credential": "partner"})
    call.get(timeout=20)

    first = _lower(server.requests_to("/moved")[0].headers)
    second = _lower(other_port.requests_to("/landing")[0].headers)
    assert first["x-api-key"] == PARTNER_SECRET
    assert first["authorization"] == SENSITIVE["Authorization"]
    assert first["cookie"] == SENSITIVE["Cookie"]
    assert first["proxy-authorization"] == SENSITIVE["Proxy-Authorization"]
    for name in ("x-api-key", "authorization", "cookie", "proxy-authorization"):
        assert name not in second, name
    assert second["x-trace"] == "t-1"  # what authenticates nobody still travels


@pytest.mark.usefixtures("fleet_worker")
def test_once_the_chain_leaves_the_origin_a_way_back_does_not_restore_the_credential(
    client, server, other_port
):
    server.route("/back", Reply(200, {}))
    other_port.route("/bounce", Reply(302, headers={"Location": server.url("/back")}))
    url = server.route("/out", Reply(302, headers={"Location": other_port.url("/bounce")}))

    client.call("http.request", {"url": url, "credential": "partner"}).get(timeout=20)

    assert "X-Api-Key" in server.requests_to("/out")[0].headers
    assert "X-Api-Key" not in server.requests_to("/back")[0].headers


@pytest.mark.usefixtures("fleet_worker")
def test_a_redirect_within_the_origin_keeps_the_credential(client, server):
    server.route("/b", Reply(200, {}))
    url = server.route("/a", Reply(307, headers={"Location": "/b"}))

    client.call(
        "http.request", {"url": url, "method": "POST", "body": "x", "credential": "partner"}
    ).get(timeout=20)

    landed = server.requests_to("/b")[0]
    assert (landed.method, landed.body, landed.headers["X-Api-Key"]) == (
        "POST",
        b"x",
        PARTNER_SECRET,
    )


def test_an_https_to_http_downgrade_on_the_same_host_and_port_drops_every_credential(
    tls_server,
):
    # Only the scheme changes: same host name, same port.
    tls_server.route("/plain", Reply(200, {}))
    secure = tls_server.route(
        "/secure", Reply(302, headers={"Location": tls_server.url("/plain", scheme="http")})
    )
    credential = HttpCredential(header="X-Api-Key", value=TLS_ONLY_SECRET, hosts=["localhost"])

    fetched = SafeHttp(allowed_hosts=["localhost"]).request(
        "GET", secure.replace("http://", "https://"), headers=SENSITIVE, credential=credential
    )

    assert fetched.status == 200
    first = _lower(tls_server.requests_to("/secure")[0].headers)
    second = _lower(tls_server.requests_to("/plain")[0].headers)
    assert first["x-api-key"] == TLS_ONLY_SECRET
    assert first["authorization"] == SENSITIVE["Authorization"]
    for name in ("x-api-key", "authorization", "cookie", "proxy-authorization"):
        assert name not in second, name


def test_an_http_to_https_upgrade_is_another_origin_too(tls_server):
    tls_server.route("/secure", Reply(200, {}))
    plain = tls_server.route(
        "/plain", Reply(301, headers={"Location": tls_server.url("/secure", scheme="https")})
    )

    SafeHttp(allowed_hosts=["localhost"]).request("GET", plain, headers=SENSITIVE)

    assert "Authorization" not in tls_server.requests_to("/secure")[0].headers


# --- plain http --------------------------------------------------------------------------


@pytest.mark.usefixtures("fleet_worker")
def test_a_credential_goes_over_plain_http_only_to_a_host_allowed_to_receive_it(client, server):
    url = server.route("/plain", Reply(200, {}))

    refused = wait_final(client.call("http.request", {"url": url, "credential": "tls-only"}).id)
    allowed = wait_final(client.call("http.request", {"url": url, "credential": "partner"}).id)

    assert refused["error"]["type"] == "BadParams"
    assert "goes over https only" in refused["error"]["message"]
    assert allowed["status"] == "succeeded"  # `partner` lists localhost in plain_http_hosts
    assert [s.headers["X-Api-Key"] for s in server.requests_to("/plain")] == [PARTNER_SECRET]


def test_the_client_itself_refuses_a_credential_on_plain_http(server):
    url = server.route("/plain", Reply(200, {}))
    credential = HttpCredential(header="X-Api-Key", value=TLS_ONLY_SECRET, hosts=[])

    with pytest.raises(Forbidden, match="may not be sent to http://localhost"):
        SafeHttp(allowed_hosts=["localhost"]).request("GET", url, credential=credential)

    assert server.connections == 0


@pytest.mark.parametrize(
    ("plain", "host", "scheme", "allowed"),
    [
        ([], "api.example.com", "https", True),
        ([], "api.example.com", "http", False),
        (["*.internal"], "api.internal", "http", True),
        (["*.internal"], "api.example.com", "http", False),
        (["api.example.com"], "API.Example.com.", "http", True),
    ],
)
def test_plain_http_hosts_name_where_a_credential_may_go_unencrypted(plain, host, scheme, allowed):
    credential = HttpCredential(value="v" * 20, plain_http_hosts=plain)

    assert credential.allows(host, scheme) is allowed
