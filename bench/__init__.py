"""`pipenv run bench`: the service as production runs it, under wrk, against a trivial ceiling."""
