"""The tools: one module per provider, plus ``shared/``, what provider modules share.

Importing this package imports no provider: the catalog
(:func:`worker.tools.catalog.catalog`) imports each of
:data:`PROVIDER_MODULES`, whose ``@provider.tool`` declarations register
the tools; resolving one tool name imports only the module
:data:`TOOL_MODULES` names for its prefix.
"""

PROVIDER_MODULES = (
    "tasks.diagnostics",
    "tasks.github",
    "tasks.github_syncs",
    "tasks.http",
    "tasks.jira",
    "tasks.jira_syncs",
    "tasks.slack",
    "tasks.slack_syncs",
)

# The module declaring the tools of each name prefix: a process that calls one tool
# (`fleet call github.create_issue`) imports that module alone. tests/test_layout.py
# checks it against the declarations.
TOOL_MODULES = {
    "fleet.": "tasks.diagnostics",
    "github.": "tasks.github",
    "http.": "tasks.http",
    "webhook.": "tasks.http",
    "jira.": "tasks.jira",
    "slack.": "tasks.slack",
}
