"""Data sets: readers for the real ones, and small synthetic ones the project writes itself."""
