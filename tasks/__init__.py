"""The tools: one module per provider, plus ``shared/``, what provider modules share.

Importing this package imports no provider: the catalog
(:func:`worker.tools.catalog.catalog`) imports each of
:data:`PROVIDER_MODULES`, whose ``@provider.tool`` declarations register
the tools.
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
