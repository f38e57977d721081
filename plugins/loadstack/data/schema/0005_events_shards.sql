-- Activity events, sharded over 16 tables by profile: a profile's events all live in one table,
-- events_NN with NN = profile_id % shards (16 unless a seed asks for fewer), so a profile's timeline
-- is one index range scan, and shards seed (and could later move to other servers) independently.
-- Ids are unique across shards (loadstack.data.generate: id = n * shards + shard + 1).
-- The 16 definitions are identical apart from the table name; a unit test keeps them so.
-- payload is MariaDB JSON (LONGTEXT with a JSON_VALID check): a malformed payload is rejected
-- (LOAD DATA LOCAL turns that into a warning, which loadstack.data.seed treats as an error).

CREATE TABLE IF NOT EXISTS events_00 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_01 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_02 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_03 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_04 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_05 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_06 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_07 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_08 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_09 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_10 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_11 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_12 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_13 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_14 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS events_15 (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    event_type   VARCHAR(32)     NOT NULL,
    occurred_at  DATETIME        NOT NULL,
    payload      JSON            NOT NULL,
    PRIMARY KEY (id),
    KEY ix_account_occurred (account_id, occurred_at),
    KEY ix_profile_occurred (profile_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
