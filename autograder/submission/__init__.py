"""One submission: read it, restore the instructor's cells, run it, judge it, score it."""
