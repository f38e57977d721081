"""Restoring a stack step's database or cache from a catalogued snapshot, on each profile.

`database` and `cache` hold the interfaces and the local profile's implementations (servers on
127.0.0.1: `local_database`, `local_cache`); `aurora` and `elasticache` the aws profile's.
`loadstack.backends.backends_for` chooses between them.
"""
