"""Every PostgreSQL advisory lock key the service takes, in one place, so that none collide."""

# Session lock of a migration runner (migrations.py): one runner at a time applies migrations.
MIGRATIONS = 7_201_164_811
# Transaction lock of every change, held to its commit (lock_revisions(), migrations/0006):
# revisions become visible in commit order.
REVISIONS = 7_201_164_812
