"""The 1.x migrations a project put in ``MIGRATION_MODULES`` (issue #19)."""
