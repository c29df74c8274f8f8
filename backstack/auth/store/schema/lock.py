"""The advisory lock every schema step of auth takes on PostgreSQL, so workers starting at once do not race."""

LOCK_KEY = 7_201_466_113  # pg_advisory_xact_lock key shared by every backstack process
