"""loadstack benchmarks: `make bench` (services must be up; `make up` does that)."""
