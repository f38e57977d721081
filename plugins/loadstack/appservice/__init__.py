"""The application under test in a stack: run it (local) or find it (aws), and say where it answers."""
