"""Tests of the http provider (tasks/http/)."""
