"""The tools, one module per provider. Importing this package registers them all."""

from tasks import diagnostics, http  # noqa: F401  (registration by import)
