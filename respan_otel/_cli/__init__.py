"""The ``respan-otel`` command's pieces; :mod:`respan_otel.cli` assembles them."""
