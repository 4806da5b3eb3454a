"""Everything that runs terraform: argv builders, the executor, and reading its diagnostics."""
