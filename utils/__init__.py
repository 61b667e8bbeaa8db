"""Learner-facing helpers for the bnlab lessons: data, baseline models, plots, widgets, training.

Each function's docstring names the lesson that uses it.  Nothing here is an answer to a
graded exercise, and importing it does no work (no seeding, no downloads, no files).
"""
