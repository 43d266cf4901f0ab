"""The write side: command objects and the handlers that carry them out, one transaction each."""
