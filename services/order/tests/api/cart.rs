//! The cart: lines priced by the catalog, quantities 1 to 99, one cart per user.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::support::{CARD_OK, Caller, Shop, admin, checkout_body, customer, key};

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

/// The rows of a customer's cart as stored: product and quantity, in the order added.
async fn stored_lines(shop: &Shop, caller: Caller) -> Vec<(Uuid, i32)> {
    let Caller::Customer(user_id) = caller else {
        panic!("only customers have carts here");
    };
    sqlx::query_as(
        "SELECT product_id, quantity FROM cart_items WHERE user_id = $1 ORDER BY added_at",
    )
    .bind(user_id)
    .fetch_all(&shop.order_db.pool)
    .await
    .expect("cart rows")
}

#[tokio::test]
async fn a_product_withdrawn_from_sale_waits_apart_and_comes_back_when_sold_again() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 5).await;
    let pen = shop.add_product("Pen", 150, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 2).await;
    shop.add_to_cart(alice, pen, 1).await;
    shop.update_product(mug, json!({"active": false})).await;

    for _ in 0..2 {
        let body = cart(&shop, alice).await;
        assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(body["items"][0]["product_id"], json!(pen));
        assert_eq!(
            body["subtotal"],
            json!({"amount": 150, "currency": "USD"}),
            "the subtotal counts only what can be bought"
        );
        assert_eq!(
            body["unavailable"],
            json!([{"product_id": mug, "name": "Mug", "quantity": 2, "reason": "inactive"}])
        );
        assert_eq!(
            stored_lines(&shop, alice).await,
            [(mug, 2), (pen, 1)],
            "reading the cart leaves it as it is"
        );
    }

    shop.update_product(mug, json!({"active": true})).await;
    let body = cart(&shop, alice).await;
    let ids: Vec<&serde_json::Value> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|line| &line["product_id"])
        .collect();
    assert_eq!(ids, [&json!(mug), &json!(pen)], "{body}");
    assert_eq!(body["items"][0]["quantity"], json!(2));
    assert_eq!(body["subtotal"]["amount"], json!(2 * 899 + 150));
    assert!(
        body.get("unavailable").is_none(),
        "left out when there are none: {body}"
    );
}

#[tokio::test]
async fn a_deleted_product_is_listed_without_a_name_and_removed_like_any_line() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 3).await;
    let deleted = shop
        .product_call(
            Method::DELETE,
            &format!("/api/v1/admin/products/{mug}"),
            admin(),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);

    let body = cart(&shop, alice).await;
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["subtotal"], json!({"amount": 0, "currency": "USD"}));
    assert_eq!(
        body["unavailable"],
        json!([{"product_id": mug, "quantity": 3, "reason": "unknown"}])
    );

    let path = format!("/api/v1/cart/items/{mug}");
    let removed = shop.call(Method::DELETE, &path, alice, None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let body = cart(&shop, alice).await;
    assert_eq!(body["items"], json!([]));
    assert!(body.get("unavailable").is_none(), "{body}");
    assert_eq!(stored_lines(&shop, alice).await, []);
}

#[tokio::test]
async fn checkout_refuses_unavailable_lines_by_name_and_writes_nothing() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 1000, 5).await;
    let lamp = shop.add_product("Lamp", 3000, 5).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    shop.add_to_cart(alice, lamp, 2).await;
    shop.update_product(lamp, json!({"active": false})).await;

    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["type"], json!("/problems/conflict"));
    assert_eq!(answer.fields(), [format!("cart.{lamp}")]);
    assert_eq!(answer.body["errors"][0]["code"], json!("inactive"));
    let detail = answer.body["detail"].as_str().expect("a detail");
    assert!(detail.contains("Lamp"), "{detail}");
    assert!(!detail.contains("Mug"), "{detail}");

    assert_eq!(shop.orders(alice).await, []);
    let written: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM payments), \
                (SELECT count(*) FROM outbox)",
    )
    .fetch_one(&shop.order_db.pool)
    .await
    .expect("counts");
    assert_eq!(written, (0, 0, 0), "orders, payments, events");
    let reservations: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(&shop.product_db.pool)
        .await
        .expect("count");
    assert_eq!(reservations, 0);
    assert_eq!(shop.stock(mug).await, 5);
    assert_eq!(stored_lines(&shop, alice).await, [(mug, 1), (lamp, 2)]);

    // Once the line is removed, the rest of the cart checks out.
    let path = format!("/api/v1/cart/items/{lamp}");
    let removed = shop.call(Method::DELETE, &path, alice, None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let answer = shop.checkout(alice, &key(), checkout_body(CARD_OK)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let order = answer.order();
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].product_id, mug);
    assert_eq!(stored_lines(&shop, alice).await, []);
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
