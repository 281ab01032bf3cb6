"""Measurement steps that SQL is the wrong tool for (attribution models, experiments, the report), each a set
of pure functions that a Dagster asset drives from warehouse tables."""
