"""Receivers' shared logic that is not HTTP: DKIM verdicts of mailed reports."""
