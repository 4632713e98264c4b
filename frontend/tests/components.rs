//! Component tests: key components rendered to HTML by Yew's server renderer, on the native
//! toolchain, and their markup checked. (Rendering only: effects and clicks need a browser;
//! the e2e tests under `frontend/e2e` cover those.)

use std::collections::BTreeMap;

use contracts::address::PostalAddress;
use contracts::auth::Role;
use contracts::cart::{Cart, CartLine, UnavailableLine, UnavailableReason};
use contracts::catalog::{Category, Product};
use contracts::money::{Currency, Money};
use contracts::orders::{Order, OrderLine, OrderStatus, PaymentStatus, PaymentSummary, Totals};
use contracts::problem::{FieldError, Problem, problem_types};
use contracts::users::User;
use frontend::api::{ApiError, FieldErrors};
use frontend::components::{
    AdminGuard, CartView, ErrorNotice, ErrorSummary, OrderSummary, ProductCard, ProductDraft,
    ProductForm, UnavailableLines,
};
use frontend::pages::Home;
use frontend::session::{Session, SessionHandle};
use time::macros::datetime;
use uuid::Uuid;
use yew::prelude::*;
use yew_router::Router;
use yew_router::history::{AnyHistory, MemoryHistory};

fn usd(amount: i64) -> Money {
    Money::new(amount, Currency::parse("USD").expect("valid code"))
}

fn user(roles: Vec<Role>) -> User {
    User {
        id: Uuid::from_u128(42),
        email: "ada@example.com".to_owned(),
        display_name: "Ada".to_owned(),
        roles,
        created_at: datetime!(2024-05-01 12:00 UTC),
    }
}

fn product(stock: u32) -> Product {
    Product {
        id: Uuid::from_u128(7),
        sku: "MUG-1".to_owned(),
        slug: "blue-mug".to_owned(),
        name: "Blue mug".to_owned(),
        description: "Holds tea.".to_owned(),
        price: usd(1999),
        image_url: Some("/api/v1/products/7/image.svg".to_owned()),
        attributes: BTreeMap::new(),
        category_id: Uuid::from_u128(1),
        active: true,
        featured: false,
        stock,
        version: 3,
        created_at: datetime!(2024-05-01 12:00 UTC),
        updated_at: datetime!(2024-05-01 12:00 UTC),
    }
}

/// What a page needs around it: a session and a router.
#[derive(Properties, PartialEq)]
struct HarnessProps {
    user: Option<User>,
    children: Html,
}

#[component]
fn Harness(props: &HarnessProps) -> Html {
    let session = use_reducer(|| Session {
        user: props.user.clone(),
    });
    let history = use_memo((), |()| {
        AnyHistory::from(MemoryHistory::with_entries(vec!["/admin".to_owned()]))
    });
    html! {
        <ContextProvider<SessionHandle> context={session}>
            <Router history={(*history).clone()}>{ props.children.clone() }</Router>
        </ContextProvider<SessionHandle>>
    }
}

async fn render(user: Option<User>, content: impl FnOnce() -> Html + Send + 'static) -> String {
    yew::ServerRenderer::<Harness>::with_props(move || HarnessProps {
        user,
        children: content(),
    })
    .render()
    .await
}

/// The start tag holding the attribute `attr` (`id="x"`).
fn tag_with<'a>(html: &'a str, attr: &str) -> &'a str {
    let at = html
        .find(attr)
        .unwrap_or_else(|| panic!("no element with {attr} in {html}"));
    let start = html[..at].rfind('<').expect("a tag start");
    let end = at + html[at..].find('>').expect("a tag end");
    &html[start..=end]
}

/// The start tag of the element with `id`.
fn tag_with_id<'a>(html: &'a str, id: &str) -> &'a str {
    tag_with(html, &format!("id=\"{id}\""))
}

/// The text right inside the element holding the attribute `attr`.
fn text_with<'a>(html: &'a str, attr: &str) -> &'a str {
    let tag = tag_with(html, attr);
    let after = html.find(tag).expect("the tag") + tag.len();
    let end = after + html[after..].find('<').expect("a closing tag");
    &html[after..end]
}

#[tokio::test]
async fn product_card_shows_the_price_from_minor_units() {
    let html = render(None, || html! { <ProductCard product={product(3)} /> }).await;
    assert!(html.contains("$19.99"), "{html}");
    assert!(html.contains("Blue mug"), "{html}");
    assert!(
        html.contains("href=\"/products/00000000-0000-0000-0000-000000000007\""),
        "{html}"
    );
    assert!(
        html.contains("src=\"/api/v1/products/7/image.svg\""),
        "{html}"
    );
    assert!(html.contains("In stock"), "{html}");

    let sold_out = render(None, || html! { <ProductCard product={product(0)} /> }).await;
    assert!(sold_out.contains("Sold out"), "{sold_out}");
}

#[tokio::test]
async fn field_errors_are_shown_next_to_the_field_they_name() {
    let problem =
        Problem::new(problem_types::VALIDATION, "Invalid request", 422).with_errors(vec![
            FieldError::new("price.amount", "negative", "must not be negative"),
            FieldError::new("sku", "taken", "is already used by another product"),
        ]);
    let error = ApiError::Problem(Box::new(problem));
    let errors = error.field_errors();
    let categories = vec![Category {
        id: Uuid::from_u128(1),
        slug: "kitchen".to_owned(),
        name: "Kitchen".to_owned(),
        parent_id: None,
        version: 1,
    }];
    let draft = ProductDraft::from(&product(3));
    let html = {
        let errors = errors.clone();
        render(None, move || {
            html! {
                <>
                    <ErrorSummary prefix="product" fields={ProductDraft::FIELDS}
                        message={error.message()} errors={errors.clone()} />
                    <ProductForm draft={draft} errors={errors} categories={categories} is_new=false busy=false
                        on_change={Callback::noop()} on_submit={Callback::noop()} />
                </>
            }
        })
        .await
    };

    let price = tag_with_id(&html, "product-price");
    assert!(price.contains("aria-invalid=\"true\""), "{price}");
    assert!(
        price.contains("aria-describedby=\"product-price-error\""),
        "{price}"
    );
    let message = tag_with_id(&html, "product-price-error");
    assert!(
        message.starts_with("<p ") && message.contains("class=\"field__error\""),
        "{message}"
    );
    assert_eq!(
        text_with(&html, "id=\"product-price-error\""),
        "must not be negative"
    );
    let sku = tag_with_id(&html, "product-sku");
    assert!(sku.contains("aria-invalid=\"true\""), "{sku}");
    assert_eq!(
        text_with(&html, "id=\"product-sku-error\""),
        "is already used by another product"
    );
    // The message sits right after its own input, not after another field's.
    let price_at = html.find("id=\"product-price\"").expect("price input");
    let message_at = html
        .find("must not be negative</p>")
        .expect("price message");
    let next_input = html[price_at + 1..]
        .find("<input")
        .map(|i| i + price_at + 1);
    assert!(next_input.is_none_or(|next| message_at < next), "{html}");

    let name = tag_with_id(&html, "product-name");
    assert!(name.contains("aria-invalid=\"false\""), "{name}");
    assert!(!name.contains("aria-describedby"), "{name}");

    // The summary links each message to its field.
    assert!(html.contains("href=\"#product-price\""), "{html}");
    assert_eq!(
        text_with(&html, "href=\"#product-price\""),
        "Price: must not be negative"
    );
    assert!(html.contains("href=\"#product-sku\""), "{html}");
    assert!(html.contains("role=\"alert\""), "{html}");
    assert_eq!(errors.get("price").as_deref(), Some("must not be negative"));
}

#[tokio::test]
async fn the_product_form_has_a_labelled_featured_checkbox_that_shows_the_product() {
    let form = |featured: bool| {
        let draft = ProductDraft {
            featured,
            ..ProductDraft::from(&product(3))
        };
        move || {
            html! {
                <ProductForm draft={draft} errors={FieldErrors::default()} categories={Vec::new()}
                    is_new=false busy=false on_change={Callback::noop()} on_submit={Callback::noop()} />
            }
        }
    };
    let html = render(None, form(true)).await;
    let checkbox = tag_with_id(&html, "product-featured");
    assert!(checkbox.contains("type=\"checkbox\""), "{checkbox}");
    assert!(checkbox.contains("checked"), "{checkbox}");
    assert_eq!(
        text_with(&html, "for=\"product-featured\""),
        "Featured (shown on the home page)"
    );
    let html = render(None, form(false)).await;
    let checkbox = tag_with_id(&html, "product-featured");
    assert!(!checkbox.contains("checked"), "{checkbox}");
}

#[tokio::test]
async fn the_home_page_has_a_featured_section_between_categories_and_new_arrivals() {
    let html = render(None, || html! { <Home /> }).await;
    let sections: Vec<usize> = ["categories", "featured", "arrivals"]
        .iter()
        .map(|name| {
            let section = tag_with(&html, &format!("aria-labelledby=\"{name}-heading\""));
            assert!(section.starts_with("<section"), "{section}");
            html.find(section).expect("the section")
        })
        .collect();
    assert!(sections.is_sorted(), "{html}");
    assert_eq!(text_with(&html, "id=\"featured-heading\""), "Featured");
    // Before the fetch answers, the section says what it is waiting for.
    assert!(html.contains("Loading featured products…"), "{html}");
}

#[tokio::test]
async fn cart_shows_line_totals_and_the_subtotal_from_the_api() {
    let cart = Cart {
        items: vec![
            CartLine {
                product_id: Uuid::from_u128(7),
                name: "Blue mug".to_owned(),
                unit_price: usd(1999),
                quantity: 2,
                line_total: usd(3998),
            },
            CartLine {
                product_id: Uuid::from_u128(8),
                name: "Green tea".to_owned(),
                unit_price: usd(599),
                quantity: 1,
                line_total: usd(599),
            },
        ],
        subtotal: usd(4597),
        unavailable: Vec::new(),
    };
    let html = render(Some(user(vec![Role::Customer])), move || {
        html! { <CartView cart={cart} editable=true /> }
    })
    .await;
    assert!(html.contains("$39.98"), "{html}");
    assert!(html.contains("$5.99"), "{html}");
    assert!(html.contains("Subtotal (3 items)"), "{html}");
    assert_eq!(text_with(&html, "data-testid=\"cart-subtotal\""), "$45.97");
    let quantity = tag_with_id(&html, "quantity-00000000-0000-0000-0000-000000000007");
    assert!(quantity.contains("value=\"2\""), "{quantity}");
    assert!(
        html.contains("aria-label=\"Remove Green tea from the cart\""),
        "{html}"
    );
    assert_eq!(
        text_with(
            &html,
            "for=\"quantity-00000000-0000-0000-0000-000000000008\""
        ),
        "Quantity of Green tea"
    );
}

#[tokio::test]
async fn unavailable_lines_say_why_and_each_has_a_labelled_remove_button() {
    let lines = vec![
        UnavailableLine {
            product_id: Uuid::from_u128(9),
            name: Some("Desk lamp".to_owned()),
            quantity: 2,
            reason: UnavailableReason::Inactive,
        },
        UnavailableLine {
            product_id: Uuid::from_u128(10),
            name: None,
            quantity: 1,
            reason: UnavailableReason::Unknown,
        },
    ];
    let html = render(Some(user(vec![Role::Customer])), move || {
        html! { <UnavailableLines lines={lines} /> }
    })
    .await;
    assert_eq!(
        html.matches("data-testid=\"unavailable-line\"").count(),
        2,
        "{html}"
    );
    assert!(
        html.contains("aria-labelledby=\"unavailable-heading\""),
        "{html}"
    );
    assert_eq!(
        text_with(&html, "id=\"unavailable-heading\""),
        "No longer available"
    );
    assert!(html.contains("Not for sale at the moment"), "{html}");
    assert!(html.contains("No longer sold"), "{html}");
    assert!(html.contains("not in the subtotal"), "{html}");
    assert!(
        html.contains("aria-label=\"Remove Desk lamp from the cart\""),
        "{html}"
    );
    // A deleted product has no name: the line still says what it is, and can be removed.
    assert!(
        html.contains("aria-label=\"Remove A product no longer in the catalog from the cart\""),
        "{html}"
    );
    assert!(
        !html.contains("href=\"/products/"),
        "no links to products not for sale: {html}"
    );

    let busy = render(Some(user(vec![Role::Customer])), || {
        html! {
            <UnavailableLines busy=true lines={vec![UnavailableLine {
                product_id: Uuid::from_u128(9),
                name: Some("Desk lamp".to_owned()),
                quantity: 2,
                reason: UnavailableReason::Currency,
            }]} />
        }
    })
    .await;
    let button = tag_with(&busy, "aria-label=\"Remove Desk lamp from the cart\"");
    assert!(button.contains("disabled"), "{button}");
    assert!(busy.contains("Not sold in this shop's currency"), "{busy}");
}

#[tokio::test]
async fn admin_guard_keeps_customers_out() {
    let page = || html! { <h1>{ "Secret admin page" }</h1> };
    let customer = render(Some(user(vec![Role::Customer])), move || {
        html! { <AdminGuard>{ page() }</AdminGuard> }
    })
    .await;
    assert!(customer.contains("Not allowed"), "{customer}");
    assert!(
        customer.contains("ada@example.com is a customer account"),
        "{customer}"
    );
    assert!(!customer.contains("Secret admin page"), "{customer}");

    let visitor = render(None, move || html! { <AdminGuard>{ page() }</AdminGuard> }).await;
    assert!(visitor.contains("Please sign in"), "{visitor}");
    assert!(
        visitor.contains("href=\"/login?next=%2Fadmin\""),
        "{visitor}"
    );
    // Creating an account comes back too (with the visitor's cart, which registering merges).
    assert!(
        visitor.contains("href=\"/register?next=%2Fadmin\""),
        "{visitor}"
    );
    assert!(!visitor.contains("Secret admin page"), "{visitor}");

    let admin = render(Some(user(vec![Role::Customer, Role::Admin])), move || {
        html! { <AdminGuard>{ page() }</AdminGuard> }
    })
    .await;
    assert!(admin.contains("Secret admin page"), "{admin}");
    assert!(admin.contains("aria-label=\"Admin\""), "{admin}");
    assert!(!admin.contains("Not allowed"), "{admin}");
}

#[tokio::test]
async fn order_summary_shows_totals_status_and_only_the_last_card_digits() {
    let order = Order {
        id: Uuid::from_u128(0xabcd_ef01_0000_0000_0000_0000_0000_0001),
        user_id: Uuid::from_u128(42),
        status: OrderStatus::Paid,
        lines: vec![OrderLine {
            product_id: Uuid::from_u128(7),
            sku: "MUG-1".to_owned(),
            name: "Blue mug".to_owned(),
            unit_price: usd(1999),
            quantity: 2,
            line_total: usd(3998),
        }],
        totals: Totals {
            subtotal: usd(3998),
            tax: usd(320),
            shipping: usd(500),
            total: usd(4818),
        },
        shipping_address: PostalAddress {
            recipient: "Ada Lovelace".to_owned(),
            line1: "1 Analytical Way".to_owned(),
            line2: None,
            city: "London".to_owned(),
            postal_code: "N1 9GU".to_owned(),
            region: None,
            country: "GB".to_owned(),
            phone: None,
        },
        payment: PaymentSummary {
            card_last4: "4242".to_owned(),
            brand: Some("visa".to_owned()),
            status: PaymentStatus::Succeeded,
        },
        created_at: datetime!(2024-05-01 12:00 UTC),
        updated_at: datetime!(2024-05-01 12:00 UTC),
    };
    let html = render(None, move || html! { <OrderSummary order={order} /> }).await;
    assert!(html.contains("Order 00000001"), "{html}");
    assert_eq!(text_with(&html, "data-testid=\"order-total\""), "$48.18");
    assert!(html.contains("$3.20") && html.contains("$5.00"), "{html}");
    assert!(html.contains("badge--paid"), "{html}");
    assert!(html.contains("visa ending in 4242 · paid"), "{html}");
    assert!(html.contains("N1 9GU London"), "{html}");
}

#[tokio::test]
async fn an_expired_session_offers_to_sign_in_and_other_errors_a_retry() {
    let expired = ApiError::Problem(Box::new(Problem::new(
        problem_types::UNAUTHORIZED,
        "Unauthorized",
        401,
    )));
    let html = render(None, move || html! { <ErrorNotice error={expired} /> }).await;
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("href=\"/login?next=%2Fadmin\""), "{html}");

    let down = ApiError::Network("connection refused".to_owned());
    let html = render(None, move || {
        html! { <ErrorNotice error={down} retry={Callback::noop()} /> }
    })
    .await;
    assert!(html.contains("The shop cannot be reached."), "{html}");
    assert!(html.contains("Try again"), "{html}");
    assert!(!html.contains("/login"), "{html}");
    assert!(FieldErrors::default().is_empty());
}
