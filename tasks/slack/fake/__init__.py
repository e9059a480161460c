"""The fake Slack Web API the simulator serves as ``/slack/api/<method>`` (slack_sdk's
``base_url``): ``api`` (auth, the methods, rate limits, fault answers), ``render``
(payloads), ``state`` and ``seed`` (its workspace).

Runtime switches:

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

from simulator.fake import Fake, Switch
from tasks.slack.fake.api import SlackApi
from tasks.slack.fake.seed import seed
from tasks.slack.fake.state import SlackState


def _scope_names(value: Any) -> bool:
    return not isinstance(value, str) and all(isinstance(s, str) for s in value)


def _set_missing_scopes(st: SlackState, scopes: list[str]) -> None:
    st.missing_scopes = set(scopes)


def _set_tier1_history(st: SlackState, on: bool) -> None:
    st.tier1_history = on
    st.tier1_calls.clear()


FAKE = Fake(
    "/slack/api/",
    api=lambda credentials: SlackApi(credentials.slack_token),
    seed=seed,
    credentials={"slack_token": "xoxb-sim-token"},
    switches=(
        Switch(
            "slack_missing_scopes",
            lambda st: sorted(st.missing_scopes),
            _set_missing_scopes,
            valid=_scope_names,
            expects="a list of scope names",
        ),
        Switch("slack_tier1_history", lambda st: st.tier1_history, _set_tier1_history),
    ),
)
