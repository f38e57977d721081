-- Tenants of the synthetic commerce platform. A few accounts are huge and most are small
-- (loadstack.data.generate skews their sizes), as in a real multi-tenant product.
-- No foreign keys anywhere in this schema: sharded tables cannot point across servers, and bulk
-- loads must not pay for the checks.
CREATE TABLE IF NOT EXISTS accounts (
    id          BIGINT UNSIGNED NOT NULL,
    name        VARCHAR(100)    NOT NULL,
    plan        VARCHAR(20)     NOT NULL,
    currency    CHAR(3)         NOT NULL,
    timezone    VARCHAR(40)     NOT NULL,
    created_at  DATETIME        NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
