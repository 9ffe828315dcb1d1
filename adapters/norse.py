"""norse adapter (being written)."""
