"""Slack's seed: one workspace (7 users, 6 unarchived public channels, 7 messages in
#general, one thread in #engineering)."""

from __future__ import annotations

from simulator.state import Record
from tasks.slack.fake.state import SlackState


def seed() -> SlackState:
    """A fresh copy of the seeded workspace."""
    team = {"id": "T0001", "name": "Sim Workspace", "domain": "sim-workspace"}
    users = {
        uid: {"id": uid, "name": name, "real_name": real, "is_bot": uid == "U0007",
              "deleted": uid == "U0006", "is_admin": uid == "U0001", "tz": "Europe/Paris"}
        for uid, name, real in [
            ("U0001", "alice", "Alice Liddell"), ("U0002", "bob", "Bob Builder"),
            ("U0003", "carol", "Carol Danvers"), ("U0004", "dave", "Dave Grohl"),
            ("U0005", "erin", "Erin Brockovich"), ("U0006", "frank", "Frank Ocean"),
            ("U0007", "simbot", "Sim Bot"),
        ]
    }  # fmt: skip
    members = ["U0001", "U0002", "U0003", "U0007"]
    channels = {
        cid: {"id": cid, "name": name, "is_private": private, "is_archived": archived,
              "is_general": cid == "C0001", "created": 1690000000 + i * 86400,
              "creator": "U0001", "members": list(members) if cid != "C0008" else ["U0001"],
              "topic": f"All about {name}", "purpose": f"Channel for {name}"}
        for i, (cid, name, private, archived) in enumerate([
            ("C0001", "general", False, False), ("C0002", "random", False, False),
            ("C0003", "engineering", False, False), ("C0004", "alerts", False, False),
            ("C0005", "design", False, False), ("C0006", "old-project", False, True),
            ("C0007", "secret-ops", True, False), ("C0008", "hr-private", True, False),
            ("C0009", "releases", False, False),
        ])
    }  # fmt: skip
    messages: dict[str, list[Record]] = {cid: [] for cid in channels}
    base_us = 1_700_000_000_000_100
    for i in range(7):
        ts = base_us + i * 60_000_000
        messages["C0001"].append({"ts": ts, "user": members[i % 3], "text": f"Hello #{i + 1}"})
    parent = base_us + 3_600_000_000
    messages["C0003"] = [
        {"ts": parent, "user": "U0002", "text": "Deploy is failing"},
        {"ts": parent + 1_000_000, "user": "U0001", "text": "Looking", "thread_ts": parent},
        {"ts": parent + 2_000_000, "user": "U0003", "text": "Fixed", "thread_ts": parent},
    ]
    return SlackState(team=team, bot_user="U0007", users=users, channels=channels,
                      messages=messages, last_ts_us=parent + 2_000_000)  # fmt: skip
