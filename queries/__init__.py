"""The read side: views shaped for the reader, built by plain functions over SQL. Never writes."""
