"""Closed-loop load on one shopapp process for `throughput.py`: SHOPAPP_SCENARIO picks the endpoint.

read_events: GET /profiles/{id}/events?limit=20 over random real profiles (cache misses and hits)
read_cart:   GET /sessions/{sid}/cart over random real sessions
write_event: POST /events for random real profiles
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, constant, events, task

KEYS: dict = {}


@events.test_start.add_listener
def load_keys(environment, **_kwargs):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{environment.host}/loadgen/keys?n=1000", timeout=10) as response:
        KEYS.update(json.load(response))


class Shopper(FastHttpUser):
    wait_time = constant(0)
    scenario = os.environ.get("SHOPAPP_SCENARIO", "read_events")

    @task
    def one(self):
        if self.scenario == "read_events":
            profile = random.choice(KEYS["profiles"])
            self.client.get(f"/profiles/{profile['profile_id']}/events?limit=20", name="/profiles/{id}/events")
        elif self.scenario == "read_cart":
            self.client.get(f"/sessions/{random.choice(KEYS['sessions'])}/cart", name="/sessions/{sid}/cart")
        else:
            profile = random.choice(KEYS["profiles"])
            body = {
                "account_id": profile["account_id"],
                "profile_id": profile["profile_id"],
                "event_type": "page_view",
                "payload": {"path": "/bench"},
            }
            self.client.post("/events", json=body, name="/events")
