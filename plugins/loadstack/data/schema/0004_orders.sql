-- Orders and their lines. Totals are stored denormalised (as shops do) and equal the sum of the lines.
CREATE TABLE IF NOT EXISTS orders (
    id           BIGINT UNSIGNED NOT NULL,
    account_id   BIGINT UNSIGNED NOT NULL,
    profile_id   BIGINT UNSIGNED NOT NULL,
    status       VARCHAR(20)     NOT NULL,
    item_count   SMALLINT UNSIGNED NOT NULL,
    total_cents  INT UNSIGNED    NOT NULL,
    currency     CHAR(3)         NOT NULL,
    placed_at    DATETIME        NOT NULL,
    PRIMARY KEY (id),
    KEY ix_orders_account_placed (account_id, placed_at),
    KEY ix_orders_profile_placed (profile_id, placed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS order_items (
    order_id          BIGINT UNSIGNED   NOT NULL,
    line_no           SMALLINT UNSIGNED NOT NULL,
    product_id        BIGINT UNSIGNED   NOT NULL,
    quantity          SMALLINT UNSIGNED NOT NULL,
    unit_price_cents  INT UNSIGNED      NOT NULL,
    PRIMARY KEY (order_id, line_no),
    KEY ix_order_items_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
