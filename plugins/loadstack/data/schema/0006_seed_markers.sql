-- Seeding progress, one row per unit of work ("base" or an events shard table), so an interrupted
-- seed resumes: a unit marked done with the same params_hash is skipped, any other is redone from
-- empty. Part of the schema so that snapshots carry the markers of the data they contain.
CREATE TABLE IF NOT EXISTS seed_markers (
    shard        VARCHAR(64)     NOT NULL,
    params_hash  CHAR(64)        NOT NULL,
    row_count    BIGINT UNSIGNED NOT NULL DEFAULT 0,
    done         BOOLEAN         NOT NULL DEFAULT FALSE,
    updated_at   DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
