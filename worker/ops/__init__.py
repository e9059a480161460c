"""The operator's actions on the fleet: ``deadletters`` (replay, discard)."""
