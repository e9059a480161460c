"""The tools, one module per provider. Importing this package registers them all."""

from tasks import diagnostics, github, http, jira, slack  # noqa: F401  (registration by import)
