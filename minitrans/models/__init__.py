"""The models of the course, one architecture per file."""
