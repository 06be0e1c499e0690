"""What `tlsrpt serve` starts and stops.

- `lifecycle`: the order things start in, how they stop (in reverse, each
  wait bounded), and the components themselves, built from the settings;
- `listener`: the HTTP listener: uvicorn configured with the connection
  limits, and the check that a port is free.

`tlsrpt.cli.serve` parses the command line and calls `lifecycle.run`.
"""


class StartError(Exception):
    """Serve cannot start as configured (a port in use, an unreadable
    file, a receiver that cannot listen); the message says what to fix."""
