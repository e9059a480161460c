"""Tests of the github provider (tasks/github/)."""
