"""From finished spans to delivered dataset logs: mapping, delivery, spool, processors."""
