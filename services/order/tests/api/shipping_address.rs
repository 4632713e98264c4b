//! Checkout ships to addresses by the shop's one address rule, the address book's too
//! (issue #20 item 3).

use contracts::address::Address;
use contracts::address::PostalAddress;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{CARD_OK, Shop, checkout_body, customer, key};

/// The address of a checkout body with `field` set to `value`.
fn with(field: &str, value: Value) -> Value {
    let mut address = checkout_body(CARD_OK)["shipping_address"].clone();
    address[field] = value;
    address
}

/// For each input checkout accepts exactly the addresses `contracts::address::Address::parse`
/// accepts and ships to what the parser makes of them; it refuses the others with a 422
/// naming exactly the fields the parser names, in the same order, and writes nothing.
#[tokio::test]
async fn checkout_applies_the_one_address_rule() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 100).await;
    let alice = customer();
    let mut inputs = Vec::new();
    for country in [" de ", "de", "DE", "D", "DEU", ""] {
        inputs.push(with("country", json!(country)));
    }
    for chars in [100, 101, 200, 201] {
        inputs.push(with("recipient", json!("r".repeat(chars))));
    }
    for chars in [16, 17] {
        inputs.push(with("postal_code", json!("1".repeat(chars))));
    }
    for phone in [
        "1234",
        "12345",
        "123456789012345",
        "1234567890123456",
        "+49 30 1234567",
        "12+345",
        &format!("1{}2345", " ".repeat(32)),
        " ",
    ] {
        inputs.push(with("phone", json!(phone)));
    }
    for field in [
        "recipient",
        "line1",
        "city",
        "postal_code",
        "line2",
        "region",
    ] {
        inputs.push(with(field, json!("  ")));
    }
    let mut several = with("recipient", json!(""));
    several["country"] = json!("DEU");
    several["phone"] = json!("1234");
    inputs.push(several);

    let mut placed = 0;
    for address in inputs {
        let input: PostalAddress = serde_json::from_value(address.clone()).expect("a new address");
        shop.add_to_cart(alice, mug, 1).await;
        let mut body = checkout_body(CARD_OK);
        body["shipping_address"] = address.clone();
        let answer = shop.checkout(alice, &key(), body).await;
        match Address::parse(input) {
            Ok(parsed) => {
                assert_eq!(
                    answer.status,
                    StatusCode::CREATED,
                    "{address}: {:?}",
                    answer.body
                );
                placed += 1;
                let mut shipped = answer.body["shipping_address"].clone();
                shipped
                    .as_object_mut()
                    .expect("an object")
                    .retain(|_, value| !value.is_null());
                assert_eq!(
                    shipped,
                    serde_json::to_value(&parsed).expect("serialize"),
                    "{address}"
                );
            }
            Err(error) => {
                assert_eq!(
                    answer.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{address}: {:?}",
                    answer.body
                );
                let named: Vec<String> = error
                    .field_errors("shipping_address.")
                    .into_iter()
                    .map(|e| e.field)
                    .collect();
                assert_eq!(answer.fields(), named, "{address}");
            }
        }
    }
    assert_eq!(shop.orders(alice).await.len(), placed);
    assert_eq!(
        shop.stock(mug).await,
        100 - u64::try_from(placed).expect("a count")
    );
}
