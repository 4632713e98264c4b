//! The cart: lines priced by the catalog, quantities 1 to 99, one cart per user.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::support::{Caller, Shop, customer};

async fn cart(shop: &Shop, caller: Caller) -> serde_json::Value {
    let answer = shop.call(Method::GET, "/api/v1/cart", caller, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}

#[tokio::test]
async fn cart_lines_show_catalog_prices_and_quantities_are_set_not_added() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 10).await;
    let pen = shop.add_product("Pen", 150, 10).await;
    let alice = customer();

    shop.add_to_cart(alice, mug, 2).await;
    shop.add_to_cart(alice, pen, 1).await;
    shop.add_to_cart(alice, mug, 3).await;
    let body = cart(&shop, alice).await;
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{body}");
    assert_eq!(items[0]["product_id"], json!(mug));
    assert_eq!(items[0]["name"], json!("Mug"));
    assert_eq!(items[0]["quantity"], json!(3), "PUT sets the quantity");
    assert_eq!(
        items[0]["unit_price"],
        json!({"amount": 899, "currency": "USD"})
    );
    assert_eq!(items[0]["line_total"]["amount"], json!(2697));
    assert_eq!(
        body["subtotal"],
        json!({"amount": 2697 + 150, "currency": "USD"})
    );

    // A new price in the catalog shows at once.
    shop.update_product(pen, json!({"price": {"amount": 175, "currency": "USD"}}))
        .await;
    assert_eq!(
        cart(&shop, alice).await["subtotal"]["amount"],
        json!(2697 + 175)
    );

    let path = format!("/api/v1/cart/items/{mug}");
    let deleted = shop.call(Method::DELETE, &path, alice, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = shop.call(Method::DELETE, &path, alice, None).await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "deleting twice is harmless"
    );
    let body = cart(&shop, alice).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["items"][0]["product_id"], json!(pen));
}

#[tokio::test]
async fn quantities_outside_1_to_99_are_422_naming_quantity() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 500).await;
    let alice = customer();
    let path = format!("/api/v1/cart/items/{mug}");
    for quantity in [json!(0), json!(100), json!(-1), json!(1.5), json!("2")] {
        let answer = shop
            .call(
                Method::PUT,
                &path,
                alice,
                Some(json!({"quantity": quantity})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{quantity}"
        );
        assert_eq!(
            answer.fields(),
            ["quantity"],
            "{quantity}: {:?}",
            answer.body
        );
    }
    for quantity in [1, 99] {
        shop.add_to_cart(alice, mug, quantity).await;
    }
    let body = cart(&shop, alice).await;
    assert_eq!(body["items"][0]["quantity"], json!(99));
}

#[tokio::test]
async fn products_the_catalog_does_not_sell_cannot_be_added() {
    let shop = Shop::start().await;
    let hidden = shop.new_product("Prototype", 100, 5, false).await;
    let alice = customer();
    for (product, code) in [(Uuid::new_v4(), "unknown"), (hidden, "inactive")] {
        let answer = shop
            .call(
                Method::PUT,
                &format!("/api/v1/cart/items/{product}"),
                alice,
                Some(json!({"quantity": 1})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.fields(), ["product_id"]);
        assert_eq!(answer.body["errors"][0]["code"], json!(code));
    }
    assert_eq!(cart(&shop, alice).await["items"], json!([]));
}

#[tokio::test]
async fn a_product_withdrawn_from_sale_leaves_the_cart() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 5).await;
    let pen = shop.add_product("Pen", 150, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    shop.add_to_cart(alice, pen, 1).await;
    shop.update_product(mug, json!({"active": false})).await;
    let body = cart(&shop, alice).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["items"][0]["product_id"], json!(pen));
    assert_eq!(body["subtotal"]["amount"], json!(150));
    // Selling it again does not bring it back: it was removed, not hidden.
    shop.update_product(mug, json!({"active": true})).await;
    assert_eq!(
        cart(&shop, alice).await["items"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn carts_belong_to_their_user_and_need_one() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 5).await;
    let (alice, bob) = (customer(), customer());
    shop.add_to_cart(alice, mug, 2).await;
    let bobs = cart(&shop, bob).await;
    assert_eq!(bobs["items"], json!([]));
    assert_eq!(bobs["subtotal"], json!({"amount": 0, "currency": "USD"}));
    let anonymous = shop
        .call(Method::GET, "/api/v1/cart", Caller::Anonymous, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.content_type, "application/problem+json");
}
