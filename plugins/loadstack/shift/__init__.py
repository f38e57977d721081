"""Live traffic shift: the ramp controller moves real users' traffic onto a stack by load-balancer weights.

LinkedIn did not generate load for its data-centre tests: live traffic is cut into routing buckets,
and taking buckets offline elsewhere moves their members onto the data centre under test. A shift
here is the same move with a weight: the load balancer in front of everything splits the live
(organic) traffic between a production side (the other data centres) and the stack's side, and the
ramp moves units of weight from one side to the other instead of asking a load generator for more.

Each driver here is a `loadstack.ramp.traffic.TrafficDriver`: the controller still asks for a rate
(QPS onto the stack), a `WeightSplit` turns it into integer weights on the target's scale, the
driver writes them, reads them back from the real system and returns the rate those weights send.

- `weights`: the pure conversion (QPS <-> weights), its clamps and its checks.
- `haproxy`: one HAProxy backend holding both pools' servers, weights through the runtime API (local).
- `alb`: an ALB listener forwarding to two weighted target groups (aws).
- `route53`: two weighted records of one name (aws); a change reaches clients only after their TTL.

No Airflow here; boto3 clients and the HAProxy runtime client are passed in by the caller.
"""
