"""Locust as the ramp's load generator: a master and workers the ramp starts, or a standing cluster
(`python -m loadstack.locust.service`) it attaches to by URL and points at its app, driven at an exact
request rate through the routes of include/locust/shop.py."""
