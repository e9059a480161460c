"""The provider simulator exercised through the real SDKs (PyGithub, slack_sdk, jira):
one file per provider, and test_engine.py for what every provider shares (faults, the
recorder, the control API, settings)."""
