"""Tests of the jira provider (tasks/jira/)."""
