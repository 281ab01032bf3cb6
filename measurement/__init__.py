"""Measurement: attribution, journey analytics, experiments and the HTML report (docs/measurement.md)."""
