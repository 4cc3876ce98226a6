"""The tracing core: span handles, ``span()``, ``@trace`` and ``propagate()``."""
