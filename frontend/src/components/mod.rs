//! Small, reusable view components. They take everything they show as `Properties` (no
//! fetching), so the component tests can render them with Yew's server renderer.

mod address;
mod cart_view;
mod feedback;
mod field;
mod guard;
mod layout;
mod order_view;
mod product_card;
mod product_form;

pub use address::{AddressCard, AddressDraft, AddressForm, AddressFormProps};
pub use cart_view::{CartView, CartViewProps, UnavailableLines, UnavailableLinesProps};
pub use feedback::{Empty, ErrorNotice, ErrorSummary, ErrorSummaryProps, Loading, Notice};
pub use field::{Checkbox, Field, FieldProps, Select, TextArea, field_id};
pub use guard::{AdminGuard, GuardProps, RequireSignIn, SignInPrompt};
pub use layout::{Footer, Header};
pub use order_view::{OrderSummary, StatusBadge};
pub use product_card::{ProductCard, ProductCardProps, ProductGrid, image as product_image};
pub use product_form::{ProductDraft, ProductForm, ProductFormProps};
