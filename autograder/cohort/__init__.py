"""A cohort: find submissions, grade them on workers, record each once, report."""
