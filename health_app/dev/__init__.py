"""Development-only helpers: demo data for `make run`. Never used in production."""
