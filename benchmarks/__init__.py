"""Side-by-side measurements of Auspice against the alternatives (run as modules)."""
