//! Saved addresses: `/api/v1/users/me/addresses` and the order service's internal read.

use contracts::pagination::Page;
use contracts::users::Address;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{INTERNAL_TOKEN, TestApp, code_of, fields, problem};

fn home() -> Value {
    json!({
        "recipient": "Ada Lovelace",
        "line1": "12 St James's Square",
        "line2": "Flat 2",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "country": "gb",
        "phone": "+44 20 7946 0958"
    })
}

struct Customer<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Customer<'a> {
    async fn new(app: &'a TestApp, email: &str) -> Self {
        Self {
            app,
            token: app.signed_up(email).await.access_token,
        }
    }

    async fn create(&self, body: &Value) -> reqwest::Response {
        self.app
            .as_bearer(self.app.post("/api/v1/users/me/addresses"), &self.token)
            .await
            .json(body)
            .send()
            .await
            .expect("request")
    }

    async fn created(&self, body: &Value) -> Address {
        let response = self.create(body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("address")
    }

    async fn list(&self) -> Vec<Address> {
        let response = self
            .app
            .as_bearer(self.app.get("/api/v1/users/me/addresses"), &self.token)
            .await
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let page: Page<Address> = response.json().await.expect("page");
        assert_eq!(page.next_cursor, None);
        page.items
    }

    async fn patch(&self, id: uuid::Uuid, body: &Value) -> reqwest::Response {
        self.app
            .as_bearer(
                self.app.patch(&format!("/api/v1/users/me/addresses/{id}")),
                &self.token,
            )
            .await
            .json(body)
            .send()
            .await
            .expect("request")
    }

    async fn delete(&self, id: uuid::Uuid) -> reqwest::Response {
        self.app
            .as_bearer(
                self.app.delete(&format!("/api/v1/users/me/addresses/{id}")),
                &self.token,
            )
            .await
            .send()
            .await
            .expect("request")
    }
}

#[tokio::test]
async fn addresses_can_be_created_listed_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let ada = Customer::new(&app, "ada@example.com").await;
    assert!(ada.list().await.is_empty());

    let response = ada.create(&home()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let created: Address = response.json().await.expect("address");
    assert_eq!(
        location,
        format!("/api/v1/users/me/addresses/{}", created.id)
    );
    assert_eq!(created.address.country, "GB", "normalised");
    assert_eq!(created.address.line2.as_deref(), Some("Flat 2"));
    assert_eq!(created.address.region, None);
    let work = ada
        .created(&json!({
            "recipient": "Ada", "line1": "1 Main St", "city": "Springfield",
            "postal_code": "12345", "region": "IL", "country": "US"
        }))
        .await;
    assert_eq!(ada.list().await, vec![created.clone(), work.clone()]);

    let response = ada
        .patch(
            created.id,
            &json!({"city": "Westminster", "line2": null, "phone": null}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Address = response.json().await.expect("address");
    assert_eq!(changed.address.city, "Westminster");
    assert_eq!(changed.address.line2, None, "null clears");
    assert_eq!(changed.address.phone, None);
    assert_eq!(changed.address.line1, created.address.line1, "absent stays");

    assert_eq!(
        ada.delete(created.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(ada.list().await, vec![work]);
    let (status, _) = problem(ada.delete(created.id).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_addresses_are_refused_naming_each_field() {
    let app = TestApp::spawn().await;
    let ada = Customer::new(&app, "ada@example.com").await;
    let mut bad = home();
    bad["country"] = json!("Great Britain");
    bad["recipient"] = json!("   ");
    bad["phone"] = json!("call me maybe");
    let (status, body) = problem(ada.create(&bad).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["recipient", "country", "phone"]);
    assert_eq!(code_of(&body, "recipient").as_deref(), Some("required"));

    let mut missing = home();
    missing.as_object_mut().expect("object").remove("city");
    let (status, body) = problem(ada.create(&missing).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["city"]);
    assert!(ada.list().await.is_empty(), "nothing was saved");

    let saved = ada.created(&home()).await;
    for (patch, field) in [
        (json!({"country": "XYZ"}), "country"),
        (json!({"city": null}), "city"),
        (json!({"line1": ""}), "line1"),
        (json!({"zip": "1"}), "zip"),
    ] {
        let (status, body) = problem(ada.patch(saved.id, &patch).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}");
        assert_eq!(fields(&body), [field], "{patch}");
    }
    assert_eq!(ada.list().await, vec![saved], "unchanged");
}

#[tokio::test]
async fn addresses_are_private_to_their_owner() {
    let app = TestApp::spawn().await;
    let ada = Customer::new(&app, "ada@example.com").await;
    let eve = Customer::new(&app, "eve@example.com").await;
    let address = ada.created(&home()).await;
    assert!(eve.list().await.is_empty());
    let (status, _) = problem(eve.patch(address.id, &json!({"city": "Paris"})).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = problem(eve.delete(address.id).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(ada.list().await, vec![address]);
    let (status, _) = problem(
        app.get("/api/v1/users/me/addresses")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_order_service_reads_the_address_chosen_at_checkout() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let ada = Customer {
        app: &app,
        token: auth.access_token.clone(),
    };
    let address = ada.created(&home()).await;
    let internal = |path: String| {
        app.get(&path)
            .header(kit::internal::INTERNAL_TOKEN_HEADER, INTERNAL_TOKEN)
    };
    let response = internal(format!(
        "/internal/users/{}/addresses/{}",
        auth.user.id, address.id
    ))
    .send()
    .await
    .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Address>().await.expect("address"), address);
    let someone_else = uuid::Uuid::new_v4();
    let (status, _) = problem(
        internal(format!(
            "/internal/users/{someone_else}/addresses/{}",
            address.id
        ))
        .send()
        .await
        .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reaching_the_port_is_not_enough_to_read_addresses_through_the_internal_api() {
    let app = TestApp::spawn().await;
    let auth = app.signed_up("ada@example.com").await;
    let ada = Customer {
        app: &app,
        token: auth.access_token.clone(),
    };
    let address = ada.created(&home()).await;
    let path = format!("/internal/users/{}/addresses/{}", auth.user.id, address.id);
    let wrong = format!("{INTERNAL_TOKEN}x");
    for token in [
        None,
        Some(""),
        Some(wrong.as_str()),
        Some(&INTERNAL_TOKEN[1..]),
    ] {
        let mut request = app.get(&path);
        if let Some(token) = token {
            request = request.header(kit::internal::INTERNAL_TOKEN_HEADER, token);
        }
        let (status, body) = problem(request.send().await.expect("request")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["type"], "/problems/unauthorized");
        assert!(!body.to_string().contains(&address.address.line1), "{body}");
    }
}

#[tokio::test]
async fn the_address_book_has_a_limit() {
    let app = TestApp::spawn().await;
    let ada = Customer::new(&app, "ada@example.com").await;
    for _ in 0..20 {
        ada.created(&home()).await;
    }
    let (status, _) = problem(ada.create(&home()).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(ada.list().await.len(), 20);
}

/// The address book applies the shop's one address rule, `contracts::address::Address::parse`,
/// which checkout applies too: for each input the book saves exactly what the parser makes of
/// it, and refuses exactly the fields the parser names.
#[tokio::test]
async fn the_address_book_applies_the_one_address_rule() {
    use contracts::address::Address as Parsed;
    use contracts::address::PostalAddress;

    let app = TestApp::spawn().await;
    let ada = Customer::new(&app, "ada@example.com").await;
    let mut inputs = Vec::new();
    for country in [" de ", "de", "DE", "deu", "d1", ""] {
        let mut body = home();
        body["country"] = json!(country);
        inputs.push(body);
    }
    for chars in [100, 101, 200, 201] {
        let mut body = home();
        body["recipient"] = json!("r".repeat(chars));
        inputs.push(body);
    }
    for (field, value) in [
        ("phone", "1234"),
        ("phone", "123456789012345"),
        ("phone", "1234567890123456"),
        ("phone", "12+345"),
        ("postal_code", "1234567890123456"),
        ("postal_code", "12345678901234567"),
        ("line2", "   "),
        ("city", "\u{7}"),
    ] {
        let mut body = home();
        body[field] = json!(value);
        inputs.push(body);
    }
    for body in inputs {
        let input: PostalAddress = serde_json::from_value(body.clone()).expect("a new address");
        let response = ada.create(&body).await;
        match Parsed::parse(input) {
            Ok(parsed) => {
                assert_eq!(response.status(), StatusCode::CREATED, "{body}");
                let saved: Address = response.json().await.expect("address");
                let expected = serde_json::to_value(&parsed).expect("serialize");
                let mut got = serde_json::to_value(&saved).expect("serialize");
                let object = got.as_object_mut().expect("object");
                object.remove("id");
                object.retain(|_, value| !value.is_null());
                assert_eq!(got, expected, "{body}");
                assert_eq!(ada.delete(saved.id).await.status(), StatusCode::NO_CONTENT);
            }
            Err(error) => {
                let (status, problem) = problem(response).await;
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
                let named: Vec<String> = error
                    .field_errors("")
                    .into_iter()
                    .map(|e| e.field)
                    .collect();
                assert_eq!(fields(&problem), named, "{body}");
            }
        }
    }
    assert!(ada.list().await.is_empty());
}
