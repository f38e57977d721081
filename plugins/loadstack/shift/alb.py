"""`AlbShiftDriver`: live traffic moved between two weighted target groups behind one ALB listener.

The listener's default action forwards to a production target group and the stack's target group
(`ForwardConfig.TargetGroups`, weights 0..999, AWS's range). The two weights always sum to 999, so a
unit of weight is 1/999 of the live traffic. A listener that forwards to the production group alone
(the usual state before a shift) is taken as stack weight 0; other actions of the listener (an
authentication before the forward, say) are kept as they are.

Every `set_rate` checks the weights itself before sending them (moto accepts any number; AWS refuses
what is outside 0..999), changes the listener with `modify_listener`, reads it back with
`describe_listeners` and fails naming the target group whose weight did not take. The rate returned,
and `applied_rate`, come from the weights the listener reports.

Target-group stickiness is refused: a sticky client stays on its group for the stickiness duration
whatever the weights, so the shift would not move the traffic it claims.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from loadstack.ramp.traffic import TrafficDriver, TrafficDriverError
from loadstack.shift.weights import Weights, WeightSplit, check_weight

log = logging.getLogger(__name__)

MAX_WEIGHT = 999
# AWS does not say how long a listener change takes to reach all of a load balancer's nodes; requests are
# seen reaching the old weights for a few seconds after the API call returned (argo-rollouts#4595). Ten
# seconds is a margin over that, not a measurement; give `settle_s` if yours is known to differ.
SETTLE_S = 10.0


class AlbShiftDriver(TrafficDriver):
    """Shift live traffic from `production_target_group_arn` to `stack_target_group_arn` on `listener_arn`.

    elbv2:    a boto3 ELBv2 client (the caller builds it from the stack's profile).
    live_qps: the live traffic the listener receives, an estimate; update it through `live_qps` as it moves.
    settle_s: seconds a weight change takes to reach traffic (see SETTLE_S).
    """

    def __init__(
        self,
        *,
        elbv2: Any,
        listener_arn: str,
        production_target_group_arn: str,
        stack_target_group_arn: str,
        live_qps: float,
        settle_s: float = SETTLE_S,
    ) -> None:
        for what, arn in (
            ("listener_arn", listener_arn),
            ("production_target_group_arn", production_target_group_arn),
            ("stack_target_group_arn", stack_target_group_arn),
        ):
            if not isinstance(arn, str) or not arn.startswith("arn:"):
                raise ValueError(f"ALB shift: {what} {arn!r} is not an ARN; give the resource's ARN (arn:aws:...)")
        if production_target_group_arn == stack_target_group_arn:
            raise ValueError(
                f"ALB shift: production and stack are the same target group {stack_target_group_arn}; give two groups"
            )
        if settle_s < 0:
            raise ValueError(f"ALB shift: settle_s {settle_s!r} must be >= 0 seconds")
        self.elbv2 = elbv2
        self.listener_arn = listener_arn
        self.production_arn = production_target_group_arn
        self.stack_arn = stack_target_group_arn
        self.settle_s = settle_s
        self.split = WeightSplit(live_qps=live_qps, max_weight=MAX_WEIGHT, target=f"ALB listener {listener_arn}")
        self.last: Weights | None = None

    def __repr__(self) -> str:
        return f"AlbShiftDriver({self.listener_arn!r})"

    @property
    def live_qps(self) -> float:
        return self.split.live_qps

    @live_qps.setter
    def live_qps(self, value: float) -> None:
        self.split.live_qps = value

    # --- the TrafficDriver ----------------------------------------------------------------------------------
    def set_rate(self, qps: float) -> float:
        weights = self.split.weights_for(qps)
        if weights.clamped:
            log.warning("%s", weights.clamp)
        wanted = {self.production_arn: weights.production, self.stack_arn: weights.stack}
        for arn, weight in wanted.items():
            check_weight(weight, MAX_WEIGHT, f"{self.split.target}: weight of target group {arn}")
        actions = self._default_actions()
        index = self._forward_index(actions)
        self._weights_of(actions[index])  # the forward must be one this driver may change
        forward: dict[str, Any] = {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in wanted.items()],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
        if "Order" in actions[index]:
            forward["Order"] = actions[index]["Order"]
        changed = [*actions[:index], forward, *actions[index + 1 :]]
        try:
            self.elbv2.modify_listener(ListenerArn=self.listener_arn, DefaultActions=changed)
        except (ClientError, BotoCoreError) as error:
            raise TrafficDriverError(
                f"ALB listener {self.listener_arn}: setting weights production {weights.production} / stack "
                f"{weights.stack} failed: {error}"
            ) from None
        reported = self._read_weights()
        for arn, weight in wanted.items():
            if reported.get(arn) != weight:
                raise TrafficDriverError(
                    f"ALB listener {self.listener_arn}: target group {arn} reports weight {reported.get(arn)} after "
                    f"it was set to {weight}; something else is changing this listener (another deployment or an "
                    "operator): stop it and drain this ramp"
                )
        self.last = weights
        return self._qps(reported)

    def applied_rate(self) -> float:
        return self._qps(self._read_weights())

    def drain(self) -> None:
        """All weight back on production (stack 0, production 999)."""
        self.set_rate(0.0)

    def close(self) -> None:
        """Drain; the listener and its target groups belong to the stack and stay."""
        self.drain()

    # --- reading back ---------------------------------------------------------------------------------------
    def _default_actions(self) -> list[dict[str, Any]]:
        try:
            listeners = self.elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"]
        except (ClientError, BotoCoreError) as error:
            raise TrafficDriverError(
                f"ALB listener {self.listener_arn}: reading it failed: {error}; check the ARN and the profile"
            ) from None
        if len(listeners) != 1:
            raise TrafficDriverError(f"ALB listener {self.listener_arn}: describe_listeners found {len(listeners)}")
        return list(listeners[0].get("DefaultActions", []))

    def _forward_index(self, actions: list[Mapping[str, Any]]) -> int:
        forwards = [i for i, action in enumerate(actions) if action.get("Type") == "forward"]
        if len(forwards) != 1:
            raise TrafficDriverError(
                f"ALB listener {self.listener_arn}: its default actions hold {len(forwards)} forward actions "
                f"({[a.get('Type') for a in actions]}); a shift needs one that forwards to production "
                f"{self.production_arn} (and the stack {self.stack_arn})"
            )
        return forwards[0]

    def _weights_of(self, forward: Mapping[str, Any]) -> dict[str, int]:
        """The forward action's weight per target group; a forward to one group without weights is all to it."""
        config = forward.get("ForwardConfig") or {}
        groups = config.get("TargetGroups") or []
        if not groups:
            arn = forward.get("TargetGroupArn")
            groups = [{"TargetGroupArn": arn, "Weight": 1}] if arn else []
        elif len(groups) == 1 and "Weight" not in groups[0]:
            groups = [{**groups[0], "Weight": 1}]
        if config.get("TargetGroupStickinessConfig", {}).get("Enabled"):
            raise TrafficDriverError(
                f"ALB listener {self.listener_arn}: target-group stickiness is on, so clients stay on their group "
                "whatever the weights; turn stickiness off on the listener's forward action to shift traffic"
            )
        found: dict[str, int] = {}
        for group in groups:
            arn, weight = group.get("TargetGroupArn"), group.get("Weight")
            if arn not in (self.production_arn, self.stack_arn):
                raise TrafficDriverError(
                    f"ALB listener {self.listener_arn} forwards to target group {arn}, which is neither production "
                    f"{self.production_arn} nor the stack {self.stack_arn}; a shift splits between those two only"
                )
            if not isinstance(weight, int):
                raise TrafficDriverError(
                    f"ALB listener {self.listener_arn}: target group {arn} has no weight ({weight!r}); give every "
                    "target group of the forward action a weight"
                )
            found[arn] = weight
        if self.production_arn not in found:
            raise TrafficDriverError(
                f"ALB listener {self.listener_arn} does not forward to production target group {self.production_arn}; "
                "forward its default action to production before shifting"
            )
        return found

    def _read_weights(self) -> dict[str, int]:
        actions = self._default_actions()
        return self._weights_of(actions[self._forward_index(actions)])

    def _qps(self, weights: Mapping[str, int]) -> float:
        return self.split.qps_for(weights.get(self.stack_arn, 0), weights.get(self.production_arn, 0))
