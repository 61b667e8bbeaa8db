"""bnlab's autograder: behavioural checks for the exercises, and cohort grading on nbgrader."""
