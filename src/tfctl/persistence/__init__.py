"""The job store: SQLModel tables, the engine, keyword-only store functions, migrations."""
