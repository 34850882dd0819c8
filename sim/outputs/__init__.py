"""Results folders written whole or not at all, read back, and operating-system errors as messages."""
