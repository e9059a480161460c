"""slack tools (placeholder: being written)."""
