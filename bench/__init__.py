"""Performance benchmarks of the simulation, generation and synthesis flows (``make bench``)."""
