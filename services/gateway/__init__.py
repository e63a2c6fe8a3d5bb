"""Gateway: the HTTP edge. Publishes login attempts and codes, answers from its own store."""
