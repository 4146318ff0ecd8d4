"""afterword: blameless postmortems run as durable Temporal workflows."""

__version__ = "0.1.0"
