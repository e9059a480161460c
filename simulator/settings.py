"""Runtime switches: what the simulated identities may do, changed while the simulator runs.

Real bot identities are refused things a personal token may do; these switches make the
simulator refuse them too. Set them with ``Simulator.configure(...)`` in process or
``POST /_sim/settings`` (``SimulatorClient.configure``) from another; ``reset()`` puts the
defaults back, since they live in the state the seed rebuilds.

- ``github_app_installation`` (off): the GitHub token is an App installation's, so
  ``GET /user`` answers 403 "Resource not accessible by integration".
- ``github_rate_limiting_disabled`` (off): GitHub Enterprise Server with rate limiting
  disabled: no ``x-ratelimit-*`` header on any response, ``GET /rate_limit`` answers 404
  "Rate limiting is not enabled.", and no primary limit is enforced. A proxy that strips
  the headers looks the same to a client.
- ``slack_missing_scopes`` (none): OAuth scopes the Slack bot lacks. Without
  ``channels:history`` (``groups:history`` for private channels) ``conversations.history``
  and ``conversations.replies`` answer ``missing_scope`` (HTTP 200) with ``needed`` and
  ``provided``, as Slack does.
- ``slack_tier1_history`` (off): the Tier 1 limits Slack applies to apps outside its
  Marketplace: ``conversations.history`` and ``conversations.replies`` each answer one call a
  minute (then 429 ``ratelimited`` with ``Retry-After``) and return at most 15 messages.
"""

from __future__ import annotations

from typing import Any

from simulator.state import SimState, SlackState

# Scopes the simulated Slack bot is granted (what X-OAuth-Scopes lists, minus missing ones).
SLACK_BOT_SCOPES = (
    "chat:write", "channels:read", "channels:history", "channels:manage",
    "groups:read", "groups:history", "users:read",
)  # fmt: skip


class SettingsError(ValueError):
    """A setting the simulator does not know, or a value of the wrong type."""


def current(st: SimState) -> dict[str, Any]:
    """Every switch with its value."""
    return {
        "github_app_installation": st.github.app_installation,
        "github_rate_limiting_disabled": st.github.rate_limiting_disabled,
        "slack_missing_scopes": sorted(st.slack.missing_scopes),
        "slack_tier1_history": st.slack.tier1_history,
    }


def apply(st: SimState, changes: dict[str, Any]) -> dict[str, Any]:
    """Set the given switches (all validated before any is set); returns them all."""
    unknown = set(changes) - set(current(st))
    if unknown:
        raise SettingsError(f"unknown settings: {sorted(unknown)}")
    for name in ("github_app_installation", "github_rate_limiting_disabled", "slack_tier1_history"):
        if name in changes and not isinstance(changes[name], bool):
            raise SettingsError(f"{name} must be true or false")
    scopes = changes.get("slack_missing_scopes", [])
    if isinstance(scopes, str) or not all(isinstance(s, str) for s in scopes):
        raise SettingsError("slack_missing_scopes must be a list of scope names")
    if "github_app_installation" in changes:
        st.github.app_installation = changes["github_app_installation"]
    if "github_rate_limiting_disabled" in changes:
        st.github.rate_limiting_disabled = changes["github_rate_limiting_disabled"]
    if "slack_missing_scopes" in changes:
        st.slack.missing_scopes = set(scopes)
    if "slack_tier1_history" in changes:
        st.slack.tier1_history = changes["slack_tier1_history"]
        st.slack.tier1_calls.clear()
    return current(st)


def slack_scopes(slack: SlackState) -> str:
    """The bot's scopes, comma-separated (Slack's ``X-OAuth-Scopes`` and ``provided``)."""
    return ",".join(s for s in SLACK_BOT_SCOPES if s not in slack.missing_scopes)
