"""Real frameworks and instrumentations, with stub model servers on 127.0.0.1: their rows."""
