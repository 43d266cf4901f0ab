"""Tokens limited to some applications: a change by such a token touches only those, and
finds any other as if it did not exist (never a 412 or 409 that would tell otherwise; for
that, it may not rename an application either: names are unique across all of them)."""

# The application ids a change may touch; None: any.
Applications = tuple[str, ...] | None


def visible_sql(application_id: str) -> str:
    """The SQL condition, given the SQL expression of the row's application id."""
    return f"(%(applications)s::text[] IS NULL OR {application_id} = ANY(%(applications)s::text[]))"


def applications_param(applications: Applications) -> list[str] | None:
    return None if applications is None else list(applications)
