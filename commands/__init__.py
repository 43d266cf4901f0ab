"""The write side: command objects, their handlers, and the bus that carries a command to its
handler and the committed event back (commands/bus.py).

Importing the package registers every handler with the bus.
"""

from commands import applications, configurations, reports, restores, rollouts, tokens  # noqa: F401  (their handlers register)
