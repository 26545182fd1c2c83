"""Sample dumps and the code that builds them (see README.md in this folder)."""
