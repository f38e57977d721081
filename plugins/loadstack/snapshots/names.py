"""How a logical snapshot may be named (in definitions, in specs, in the catalog)."""

SNAPSHOT_NAME_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"

SNAPSHOT_DATABASE = "commerce"


def snapshot_credentials_secret(snapshot: str) -> str:
    """Where the root password a snapshot was built with is kept (it travels inside the datadir)."""
    return f"loadstack/snapshots/{snapshot}/root"
