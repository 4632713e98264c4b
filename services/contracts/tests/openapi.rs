//! The OpenAPI schemas the services publish match the JSON the types actually read and write.
#![cfg(feature = "openapi")]

use contracts::{auth, cart, catalog, money, orders, pagination, problem, users};
use serde_json::{Value, json};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(components(schemas(
    money::Money,
    problem::Problem,
    auth::AuthResponse,
    auth::Role,
    catalog::ProductSort,
    pagination::Page<catalog::Product>,
    cart::Cart,
    orders::Order,
    users::User,
)))]
struct Doc;

fn schemas() -> Value {
    let doc = serde_json::to_value(Doc::openapi()).expect("the document serializes");
    doc["components"]["schemas"].clone()
}

#[test]
fn money_is_an_integer_amount_and_a_string_currency() {
    let schemas = schemas();
    let money = &schemas["Money"];
    assert_eq!(money["properties"]["amount"]["type"], json!("integer"));
    assert_eq!(money["properties"]["amount"]["format"], json!("int64"));
    let currency = &money["properties"]["currency"];
    let currency = match currency.get("$ref").and_then(Value::as_str) {
        Some(reference) => &schemas[reference.trim_start_matches("#/components/schemas/")],
        None => currency,
    };
    assert_eq!(currency["type"], json!("string"), "{currency}");
}

#[test]
fn problem_uses_the_rfc_member_names() {
    let schemas = schemas();
    let properties = &schemas["Problem"]["properties"];
    for member in ["type", "title", "status", "detail", "instance", "errors"] {
        assert!(
            properties.get(member).is_some(),
            "missing {member}: {properties}"
        );
    }
    assert!(properties.get("type_").is_none());
}

#[test]
fn enums_list_their_wire_names() {
    let schemas = schemas();
    assert_eq!(schemas["Role"]["enum"], json!(["customer", "admin"]));
    assert_eq!(
        schemas["ProductSort"]["enum"],
        json!(["relevance", "price_asc", "price_desc", "newest"])
    );
}

#[test]
fn times_are_date_time_strings_and_pages_have_a_cursor() {
    let schemas = schemas();
    let created_at = &schemas["User"]["properties"]["created_at"];
    assert_eq!(created_at["type"], json!("string"), "{created_at}");
    assert_eq!(created_at["format"], json!("date-time"), "{created_at}");
    let page = schemas
        .as_object()
        .expect("schemas is an object")
        .iter()
        .find(|(name, _)| name.starts_with("Page"))
        .map(|(_, schema)| schema)
        .expect("a Page schema");
    assert!(page["properties"].get("items").is_some(), "{page}");
    assert!(page["properties"].get("next_cursor").is_some(), "{page}");
}

#[test]
fn a_carts_unavailable_lines_are_optional_and_give_a_reason() {
    let schemas = schemas();
    let cart = &schemas["Cart"];
    assert_eq!(cart["required"], json!(["items", "subtotal"]), "{cart}");
    assert!(cart["properties"].get("unavailable").is_some(), "{cart}");
    let line = &schemas["UnavailableLine"];
    assert_eq!(
        line["required"],
        json!(["product_id", "quantity", "reason"]),
        "{line}"
    );
    assert_eq!(
        schemas["UnavailableReason"]["enum"],
        json!(["unknown", "inactive", "currency"])
    );
}
