"""Reporting: result records and published numbers as rows, comparison tables, plots, and the CI gate."""
