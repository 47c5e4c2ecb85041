"""From W&B runs to tables: the run-file reader, the report, the parameter census."""
