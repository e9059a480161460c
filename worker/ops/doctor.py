"""`fleet doctor` and the ``fleet.doctor`` tool: is this fleet able to work, and as whom?

One check per part, each bounded in time and independent of the others:
Redis answers; the ledger is reachable and at the code's migration; every
queue has a worker; the workers say how they are configured (``config``: per
provider, credentials present or not and the API base URL, beside this
shell's own: an operator's shell often holds no credentials while the
workers do, see worker.control); and each provider this shell holds
credentials for accepts them, with one cheap call the provider declares
(``Provider.probe``: a rate-limit or identity endpoint) that also says who the
fleet acts as and the limits in force. A provider failure goes
through that provider's own error mapper, so it reads like any tool's error;
no secret is ever part of a result (the probes report token kinds, not
tokens, and everything is redacted on the way out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from worker.control import COMMAND, configuration, providers
from worker.redact import redact, redact_json

Verdict = Literal["ok", "skipped", "failed"]
PROBE_TIMEOUT_SECONDS = 10.0  # a doctor that hangs on one provider helps nobody
FROM_A_WORKER = "`fleet call fleet.doctor '{}' --wait` checks their credentials from a worker"


@dataclass
class Check:
    name: str
    verdict: Verdict
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def run_checks(app: Any, *, ping_timeout: float = 1.0) -> list[Check]:
    """Every check, in order; a check that raises is a failed check, not a crash."""
    from worker.settings import get_settings

    settings = get_settings()
    consumers: dict[str, list[str]] = {}
    checks = [
        _guarded("redis", lambda: _redis(settings)),
        _guarded("ledger", _ledger),
        _guarded("workers", lambda: _workers(app, ping_timeout, consumers)),
    ]
    hosts = sorted({host for names in consumers.values() for host in names})
    config = _guarded("config", lambda: _configuration(app, settings, hosts, ping_timeout))
    checks.append(config)
    quick = settings.model_copy(
        update={
            "provider_timeout_seconds": min(
                settings.provider_timeout_seconds, PROBE_TIMEOUT_SECONDS
            )
        }
    )
    for provider in providers():
        checks.append(_provider(provider, quick, config.data.get("workers") or {}))
    return checks


def report(checks: list[Check]) -> dict[str, Any]:
    """The checks as JSON (what ``--json`` prints and the tool returns)."""
    return redact_json(
        {"ok": all(c.verdict != "failed" for c in checks), "checks": [asdict(c) for c in checks]}
    )


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 — reported as the check's failure
        return Check(name, "failed", redact(f"{type(exc).__name__}: {exc}"))


def _redis(settings: Any) -> Check:
    import redis
    from kombu.utils.url import maybe_sanitize_url

    where = maybe_sanitize_url(settings.broker_url)
    client = redis.Redis.from_url(settings.broker_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        version = client.info("server")["redis_version"]
    except redis.RedisError as exc:
        return Check("redis", "failed", f"cannot reach {where}: {exc}")
    return Check("redis", "ok", f"{where} answers (Redis {version})", {"version": version})


def _ledger() -> Check:
    from worker.ledger.schema import DatabaseNotReady, require_migrated

    try:
        head = require_migrated()
    except DatabaseNotReady as exc:
        return Check("ledger", "failed", str(exc))
    return Check("ledger", "ok", f"reachable, at migration {head}", {"migration": head})


def _workers(app: Any, timeout: float, consumers: dict[str, list[str]]) -> Check:
    """``consumers`` is filled with who answered (queue → hostnames), for ``config``."""
    from worker.ops.inspect import workers_by_queue
    from worker.queues import QUEUES

    consumers.update(workers_by_queue(app, timeout=timeout))
    counts = {queue: len(consumers.get(queue, [])) for queue in QUEUES}
    idle = [queue for queue, count in counts.items() if not count]
    summary = ", ".join(f"{queue} {count}" for queue, count in counts.items())
    if idle:
        hint = f"start them with `fleet up` or `fleet worker -Q {','.join(idle)}`"
        return Check("workers", "failed", f"no worker consumes {', '.join(idle)}: {hint}", counts)
    return Check("workers", "ok", f"workers per queue: {summary}", counts)


def _configuration(app: Any, settings: Any, hosts: list[str], timeout: float) -> Check:
    """This shell's provider configuration and each answering worker's (asked only of
    the workers that answered the ping, and done as soon as they all have)."""
    shell = configuration(settings)
    answers: dict[str, Any] = {}
    if hosts:
        for reply in app.control.broadcast(COMMAND, reply=True, timeout=timeout, limit=len(hosts)):
            answers.update(reply)
    workers = {h: a["providers"] for h, a in sorted(answers.items()) if "providers" in a}
    views = {
        name: f"this shell {_state(mine)} | workers {_summary(name, workers) or 'did not answer'}"
        for name, mine in shell.items()
    }
    data = {"this_shell": shell, "workers": workers, "views": views}
    if workers:
        detail = f"{len(workers)} worker(s) answered (this shell | workers)"
        return Check("config", "ok", detail, data)
    if answers:
        silent = f"{len(answers)} worker(s) answered without it (older code?)"
    else:
        silent = f"no worker answered within {timeout:g}s"
    return Check("config", "skipped", f"{silent}: only this shell's configuration is known", data)


def _state(found: dict[str, Any]) -> str:
    where = f" ({found['api']})" if found.get("api") else ""
    return ("configured" if found["configured"] else "not configured") + where


def _summary(provider: str, workers: dict[str, dict[str, Any]]) -> str:
    """How the workers hold ``provider``: each distinct answer and who gave it."""
    groups: dict[str, list[str]] = {}
    for host, found in workers.items():
        if provider in found:
            groups.setdefault(_state(found[provider]), []).append(host)
    if len(groups) == 1 and len(workers) > 1:
        ((state, names),) = groups.items()
        return f"{state} (all {len(names)})"
    return "; ".join(f"{state} ({', '.join(names)})" for state, names in groups.items())


def _provider(provider: Any, settings: Any, workers: dict[str, dict[str, Any]]) -> Check:
    if not provider.configured(settings):
        detail = "not configured in this shell (no credentials)"
        if any(found.get(provider.name, {}).get("configured") for found in workers.values()):
            detail += f"; workers: {_summary(provider.name, workers)}: {FROM_A_WORKER}"
        return Check(provider.name, "skipped", detail)
    try:
        found = provider.probe(provider.connect(settings, "default"), settings)
    except Exception as exc:  # noqa: BLE001 — classified by the provider's own mapper
        from worker.errors import Unauthorized

        error = provider.map_error(exc)
        what = "credentials refused" if isinstance(error, Unauthorized) else "check failed"
        detail = f"{what}: {type(error).__name__}: {error.message}"
        return Check(provider.name, "failed", redact(detail), {"error": error.to_dict()})
    return Check(provider.name, "ok", f"acts as {found['acts_as']}", found)
