"""The ``talent`` command line."""
