"""jira tools (placeholder: being written)."""
