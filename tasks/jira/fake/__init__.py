"""The fake Jira REST API v2 the simulator serves under ``/jira`` (the ``jira``
library's ``server``): ``api`` (auth, routing, reads, fault answers), ``writes``,
``jql`` and ``jql_eval`` (search), ``render`` (payloads), ``state`` and ``seed``.

``jira_deployment`` says what ``/serverInfo`` reports: ``Server`` or ``Cloud``.
"""

from __future__ import annotations

from simulator.fake import Fake
from tasks.jira.fake.api import JiraApi
from tasks.jira.fake.seed import seed

FAKE = Fake(
    "/jira",
    api=lambda c: JiraApi(c.jira_user, c.jira_token, c.jira_deployment),
    seed=seed,
    credentials={
        "jira_user": "sim@example.com",
        "jira_token": "sim-jira-token",
        "jira_deployment": "Server",
    },
    choices={"jira_deployment": ("Server", "Cloud")},
)
