"""The checker's test lab: real DNS, HTTPS and SMTP servers on loopback.

Imported by tests/check (via conftest) and benchmarks/check.py.
"""
