"""Figure builders: each takes data from a Result and returns a matplotlib Figure."""
