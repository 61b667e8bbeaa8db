"""Building the course: lessons from solutions, the instructor version, the exchange, collecting, bundles."""
