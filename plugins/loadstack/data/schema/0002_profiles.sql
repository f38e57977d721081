-- People known to an account (customers, subscribers). Events and orders point at them.
CREATE TABLE IF NOT EXISTS profiles (
    id          BIGINT UNSIGNED NOT NULL,
    account_id  BIGINT UNSIGNED NOT NULL,
    email       VARCHAR(190)    NOT NULL,
    phone       VARCHAR(32)     NULL,
    first_name  VARCHAR(60)     NOT NULL,
    last_name   VARCHAR(60)     NOT NULL,
    country     CHAR(2)         NOT NULL,
    created_at  DATETIME        NOT NULL,
    properties  JSON            NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_profiles_account_email (account_id, email),
    KEY ix_profiles_account_created (account_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
