"""The work behind every view and CLI command; permissions are enforced here."""
