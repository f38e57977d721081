-- Each account's catalogue; prices are in the account's currency, in cents.
CREATE TABLE IF NOT EXISTS products (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    sku          VARCHAR(40)     NOT NULL,
    name         VARCHAR(200)    NOT NULL,
    category     VARCHAR(60)     NOT NULL,
    price_cents  INT UNSIGNED    NOT NULL,
    created_at   DATETIME        NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_products_account_sku (account_id, sku),
    KEY ix_products_account_category (account_id, category)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
