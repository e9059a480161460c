"""github tools (placeholder: being written)."""
