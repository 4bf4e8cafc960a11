"""Text as both database engines index and query it (pure Python, no SQL)."""
