"""Tests of the slack provider (tasks/slack/)."""
