"""Locust as the ramp's load generator: a master and workers run by loadstack (or one given by URL),
driven at an exact request rate through the routes of include/locust/shop.py."""
