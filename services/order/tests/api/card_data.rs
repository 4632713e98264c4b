//! Card numbers and CVCs go to the payment provider and nowhere else: not into a table, not
//! into a log line.

use std::sync::{Arc, Mutex, PoisonError};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tracing_subscriber::fmt::MakeWriter;

use crate::support::{CARD_DECLINED, CARD_OK, Shop, checkout_body, customer, key};

/// A CVC of four digits with a 9: no timestamp, duration, amount or id the tables and logs
/// hold is likely to have it as a token of its own, and no octal escape of a `bytea` column
/// can look like it, so finding it means it leaked.
const CVC: &str = "9876";

/// What a test subscriber wrote, JSON lines.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for CapturedLogs {
    type Writer = Self;

    fn make_writer(&self) -> Self {
        self.clone()
    }
}

/// Which of the card's secrets `text` holds: the number, with or without its spaces and
/// dashes, or the CVC as a token of its own (not inside a longer run of letters, digits and
/// dashes, as in a UUID or a digest: one of a v4 request id's groups of four is `9876` about
/// once in 13,000 ids, which made this check fail now and then).
fn leaked(text: &str, number: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let compact: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if compact.contains(&digits) {
        found.push("card number");
    }
    let alone = |at: usize| {
        let before = text[..at].chars().next_back();
        let after = text[at + CVC.len()..].chars().next();
        let in_token = |c: char| c.is_ascii_alphanumeric() || c == '-';
        !before.is_some_and(in_token) && !after.is_some_and(in_token)
    };
    if text.match_indices(CVC).any(|(at, _)| alone(at)) {
        found.push("CVC");
    }
    found
}

/// Every value of every text, JSON and binary column of every table in `pool`'s database, as
/// `(table.column, value)`.
async fn every_value(pool: &PgPool) -> Vec<(String, String)> {
    // One query per column, which Postgres writes itself, quoting the names with `%I`.
    // Binary columns (stored responses) are read as their bytes, escaped where not printable.
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name || '.' || column_name,
                format('SELECT %s FROM %I.%I WHERE %I IS NOT NULL',
                       CASE WHEN data_type = 'bytea' THEN format('encode(%I, ''escape'')', column_name)
                            ELSE format('%I::text', column_name) END,
                       table_schema, table_name, column_name)
         FROM information_schema.columns
         JOIN information_schema.tables USING (table_catalog, table_schema, table_name)
         WHERE table_type = 'BASE TABLE'
           AND table_schema NOT IN ('pg_catalog', 'information_schema')
           AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb',
                             'bytea', 'ARRAY')",
    )
    .fetch_all(pool)
    .await
    .expect("the columns");
    assert!(!columns.is_empty(), "the database has tables");
    let mut values = Vec::new();
    for (column, query) in columns {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(query.clone()))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        values.extend(rows.into_iter().map(|row| (column.clone(), row)));
    }
    values
}

/// Where the card's secrets turn up in the values.
fn leaks(values: &[(String, String)], number: &str) -> Vec<String> {
    values
        .iter()
        .flat_map(|(column, value)| {
            leaked(value, number)
                .into_iter()
                .map(move |what| format!("{what} in {column}: {value}"))
        })
        .collect()
}

fn body(number: &str) -> Value {
    let mut body = checkout_body(number);
    body["card"]["cvc"] = json!(CVC);
    body
}

#[test]
fn the_scan_finds_what_it_looks_for() {
    assert_eq!(
        leaked("{\"n\":\"4242424242424242\"}", CARD_OK),
        ["card number"]
    );
    assert_eq!(leaked("pan=4242-4242-4242-4242", CARD_OK), ["card number"]);
    assert_eq!(leaked("{\"cvc\":\"9876\"}", CARD_OK), ["CVC"]);
    assert_eq!(leaked("9876", CARD_OK), ["CVC"]);
    assert!(leaked("0198769a-64f0-7c3e-a9f8-b29876c2d1e0 **** 4242", CARD_OK).is_empty());
    // A request id whose variant group is the CVC's digits.
    assert!(
        leaked(
            "\"request_id\":\"0595d9e6-0eb9-45a0-9876-a1441fe8012f\"",
            CARD_OK
        )
        .is_empty()
    );
}

#[tokio::test]
async fn card_numbers_and_cvcs_are_neither_stored_nor_logged() {
    // Everything the services write while this test's thread runs them, at every level.
    // `#[tokio::test]` runs the servers' tasks on this thread, so they log here too.
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(logs.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 20).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    let declined = shop.checkout(alice, &key(), body(CARD_DECLINED)).await;
    assert_eq!(
        declined.status,
        StatusCode::PAYMENT_REQUIRED,
        "{:?}",
        declined.body
    );
    let key = key();
    let paid = shop.checkout(alice, &key, body(CARD_OK)).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{:?}", paid.body);
    // A replay, and a retry with another card under the same key, go through the stored
    // fingerprint and response too.
    let replay = shop.checkout(alice, &key, body(CARD_OK)).await;
    assert_eq!(replay.bytes, paid.bytes);
    let reused = shop.checkout(alice, &key, body(CARD_DECLINED)).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let order = paid.order();
    crate::support::eventually("the order's events to be published", || async {
        shop.unpublished(order.id).await == 0
    })
    .await;

    for (service, pool) in [
        ("order", &shop.order_db.pool),
        ("product", &shop.product_db.pool),
    ] {
        let values = every_value(pool).await;
        for number in [CARD_OK, CARD_DECLINED] {
            let found = leaks(&values, number);
            assert!(found.is_empty(), "the {service} database holds {found:#?}");
        }
    }
    // The scan reads what is stored: the last four digits are there, as they should be.
    let order_values = every_value(&shop.order_db.pool).await;
    assert!(
        order_values
            .iter()
            .any(|(column, value)| column == "payments.card_last4" && value == "4242")
    );

    let written = logs.contents();
    // The capture works: the checkouts' own lines are in it.
    for line in ["order placed", "payment declined", "order paid"] {
        assert!(written.contains(line), "{line} in the logs");
    }
    for number in [CARD_OK, CARD_DECLINED] {
        let found: Vec<&str> = written
            .lines()
            .filter(|line| !leaked(line, number).is_empty())
            .collect();
        assert!(
            found.is_empty(),
            "the logs hold {number} or the CVC: {found:#?}"
        );
    }
}

#[tokio::test]
async fn a_card_number_sent_in_the_wrong_shape_is_not_echoed_in_the_422() {
    let shop = Shop::start().await;
    let caller = customer();
    let secret_number: u64 = 4_000_056_655_665_556;
    for card in [
        json!({"number": secret_number, "exp_month": 12, "exp_year": 2039, "cvc": "123"}),
        json!({"number": "4242424242424242", "exp_month": secret_number, "exp_year": 2039, "cvc": "123"}),
        json!({"number": "4242424242424242", "exp_month": 12, "exp_year": 2039, "cvc": secret_number}),
    ] {
        let mut body = checkout_body(CARD_OK);
        body["card"] = card;
        let answer = shop.checkout(caller, &key(), body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            answer.body
        );
        let text = String::from_utf8_lossy(&answer.bytes);
        assert!(!text.contains(&secret_number.to_string()), "{text}");
        assert!(
            answer.body["errors"][0]["field"]
                .as_str()
                .is_some_and(|field| field.starts_with("card.")),
            "{text}"
        );
    }
}
