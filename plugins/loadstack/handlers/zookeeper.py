"""`zookeeper_node`: write a value to a ZooKeeper znode (kazoo).

Parents are created as needed. The node's data is only set when it differs, so a rerun does not
bump the node's version and reports `unchanged`. The client is always stopped and closed.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field, field_validator

from loadstack.handlers.base import (
    CompletionHandler,
    HandlerConfig,
    PublishResult,
    encode_text,
    literal_parts,
    register_handler,
)

log = logging.getLogger(__name__)



class ZooKeeperConnectionError(ConnectionError):
    """No ZooKeeper server answered within the timeout."""


@register_handler
class ZooKeeperNodeHandler(CompletionHandler):
    name = "zookeeper_node"

    class Config(HandlerConfig):
        path: str = Field(description="Absolute znode path, e.g. /loadstack/shop/vpc_id.")
        value: Any = Field(description="A string, or any JSON value (stored JSON-encoded).")
        hosts: str | None = Field(default=None, description="host:port[,host:port][/chroot]; default: the profile's.")
        timeout: float = Field(default=10, gt=0, description="Connect and request timeout, seconds.")

        @field_validator("path")
        @classmethod
        def _check_path(cls, path: str) -> str:
            # At parse time `path` may still hold `${...}` references: check only the literal parts.
            literal = literal_parts(path)
            if not path.startswith(("/", "${")):
                raise ValueError(f"znode path {path!r} must start with '/'")
            segments = literal.split("/")[1:] if path.startswith("/") else literal.split("/")
            if path == "/" or not all(segments):
                raise ValueError(f"znode path {path!r} has an empty segment (or is the root, or ends with '/')")
            if any(s in (".", "..") for s in segments):
                raise ValueError(f"znode path {path!r} may not contain '.' or '..' segments")
            if "\x00" in path:
                raise ValueError("znode path may not contain NUL characters")
            if path == "/zookeeper" or path.startswith("/zookeeper/"):
                raise ValueError("the /zookeeper subtree is reserved by ZooKeeper")
            return path

        @field_validator("value")
        @classmethod
        def _check_value(cls, value: Any) -> Any:
            try:
                encode_text(value).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"value is not JSON-serializable ({type(value).__name__})") from exc
            return value

    config: Config

    @property
    def hosts(self) -> str:
        return self.config.hosts or self.context.profile.zookeeper_hosts

    def publish(self) -> PublishResult:
        # kazoo costs ~0.1 s to import: only tasks that publish to ZooKeeper pay it, not every DAG parse.
        from kazoo.client import KazooClient
        from kazoo.exceptions import NodeExistsError
        from kazoo.handlers.threading import KazooTimeoutError

        cfg = self.config
        data = encode_text(cfg.value).encode("utf-8")
        client = KazooClient(hosts=self.hosts, timeout=cfg.timeout)
        try:
            try:
                client.start(timeout=cfg.timeout)
            except KazooTimeoutError:
                raise ZooKeeperConnectionError(
                    f"{self.describe()}: no ZooKeeper server at {self.hosts} answered within {cfg.timeout:g}s"
                ) from None
            parent = cfg.path.rsplit("/", 1)[0]
            if parent:
                client.ensure_path(parent)
            try:
                client.create(cfg.path, data)
                result = PublishResult.CREATED
            except NodeExistsError:
                current, _stat = client.get(cfg.path)
                if current == data:
                    result = PublishResult.UNCHANGED
                else:
                    client.set(cfg.path, data)
                    result = PublishResult.UPDATED
        finally:
            client.stop()
            client.close()
        log.info("%s: %s", self.describe(), result.value)
        return result

    def describe(self) -> str:
        return f"{self.name} {self.config.path} @ {self.hosts}"
