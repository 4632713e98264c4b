//! The rules of stock and reservations, without IO: what a reservation request may hold, which
//! lines lack stock, and how a settlement moves a reservation and its counters.

use std::collections::BTreeSet;

use contracts::inventory::{InsufficientStock, ReservationStatus, ReserveLine, ReserveRequest};
use contracts::problem::{FieldError, Problem, problem_types};
use kit::ApiError;
use kit::error::field_error;

/// Most lines a reservation may hold.
pub(crate) const MAX_LINES: usize = 100;
/// The longest a reservation may hold stock: a week.
pub(crate) const MAX_TTL_SECONDS: u32 = 7 * 24 * 3600;

/// A reservation's status, as `reservations.status` stores it (a CHECK constraint keeps the
/// column to these four words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub(crate) enum Status {
    /// The units are held.
    Reserved,
    /// The order was paid: the units are sold.
    Committed,
    /// The order was cancelled: the units are back on sale.
    Released,
    /// Nobody committed it in time: the units are back on sale.
    Expired,
}

impl Status {
    /// The word stored, and shown in messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }
}

impl From<Status> for ReservationStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Reserved => Self::Reserved,
            Status::Committed => Self::Committed,
            Status::Released => Self::Released,
            Status::Expired => Self::Expired,
        }
    }
}

/// The broken rules of a reservation request, named by JSON path.
pub(crate) fn check_request(request: &ReserveRequest) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if request.lines.is_empty() {
        errors.push(field_error(
            "lines",
            "required",
            "must hold at least one line",
        ));
    }
    if request.lines.len() > MAX_LINES {
        errors.push(field_error(
            "lines",
            "too_many",
            format!("at most {MAX_LINES} lines"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, line) in request.lines.iter().enumerate() {
        if line.quantity == 0 {
            errors.push(field_error(
                &format!("lines[{index}].quantity"),
                "too_small",
                "must be at least 1",
            ));
        }
        if !seen.insert(line.product_id) {
            errors.push(field_error(
                &format!("lines[{index}].product_id"),
                "duplicate",
                "each product may appear on one line only",
            ));
        }
    }
    if let Some(ttl) = request.ttl_seconds
        && !(1..=MAX_TTL_SECONDS).contains(&ttl)
    {
        errors.push(field_error(
            "ttl_seconds",
            "out_of_range",
            format!("must be 1 to {MAX_TTL_SECONDS} seconds"),
        ));
    }
    errors
}

/// The lines of a reservation in product-id order: the order locks are taken in, and the
/// order answers list them in.
pub(crate) fn sorted(lines: &[ReserveLine]) -> Vec<ReserveLine> {
    let mut lines = lines.to_vec();
    lines.sort_by_key(|line| line.product_id);
    lines
}

/// The shortfall of `line` when `on_hand - reserved` units are left, if fewer than it asks for.
pub(crate) fn shortfall(
    line: &ReserveLine,
    on_hand: i64,
    reserved: i64,
) -> Option<InsufficientStock> {
    let available = on_hand.saturating_sub(reserved).max(0);
    // More than `u32::MAX` units left is more than any line can ask for.
    let available = u32::try_from(available).ok()?;
    (available < line.quantity).then_some(InsufficientStock {
        product_id: line.product_id,
        requested: line.quantity,
        available,
    })
}

/// The 409 listing the lines that lack stock.
pub(crate) fn insufficient_stock(short: Vec<InsufficientStock>) -> ApiError {
    let detail = if short.len() == 1 {
        "One product does not have enough stock.".to_owned()
    } else {
        format!("{} products do not have enough stock.", short.len())
    };
    ApiError::Domain(Box::new(
        Problem::new(problem_types::INSUFFICIENT_STOCK, "Insufficient stock", 409)
            .with_detail(detail)
            .with_insufficient_stock(short),
    ))
}

/// What to do with a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// The order was paid: the units are sold.
    Commit,
    /// The order was cancelled: the units go back on sale.
    Release,
}

/// A reservation's move to a new status, and what each of its lines' units do to the
/// inventory counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    /// The status it moves to.
    pub(crate) to: Status,
    /// Times each line's quantity leaves `reserved` (-1 would put it back).
    pub(crate) reserved_out: i64,
    /// Times each line's quantity leaves `on_hand` (-1 puts it back).
    pub(crate) on_hand_out: i64,
}

impl Transition {
    /// The sweeper's move: the deadline passed, the held units go back on sale.
    pub(crate) const EXPIRE: Self = Self {
        to: Status::Expired,
        reserved_out: 1,
        on_hand_out: 0,
    };

    /// Whether the units others can buy change. A commit takes the units out of both
    /// `on_hand` and `reserved`, so what is available to others stays as it was.
    pub(crate) fn stock_changed(self) -> bool {
        self.to != Status::Committed
    }
}

impl Settle {
    /// The move this settlement makes from `from`: `Ok(None)` when the reservation is already
    /// settled so (settlements are idempotent), `Err(from)` when it cannot leave `from` this way.
    ///
    /// Releasing a committed reservation restocks its units: the order service only asks for
    /// that when a paid order is cancelled before it ships, so the goods never left the shelf.
    /// A reservation past its deadline that the sweeper has not expired yet still holds its
    /// units, so it can still be committed: nothing is oversold.
    pub(crate) fn transition(self, from: Status) -> Result<Option<Transition>, Status> {
        match (self, from) {
            (Self::Commit, Status::Committed)
            | (Self::Release, Status::Released | Status::Expired) => Ok(None),
            (Self::Commit, Status::Released | Status::Expired) => Err(from),
            (Self::Commit, Status::Reserved) => Ok(Some(Transition {
                to: Status::Committed,
                reserved_out: 1,
                on_hand_out: 1,
            })),
            (Self::Release, Status::Reserved) => Ok(Some(Transition {
                to: Status::Released,
                reserved_out: 1,
                on_hand_out: 0,
            })),
            (Self::Release, Status::Committed) => Ok(Some(Transition {
                to: Status::Released,
                reserved_out: 0,
                on_hand_out: -1,
            })),
        }
    }
}

/// Why a reservation cannot be settled.
#[derive(Debug)]
pub(crate) enum SettleError {
    /// The order has no reservation.
    NotFound,
    /// The reservation is in a state the settlement cannot leave it from.
    Conflict(Status),
    /// The database failed.
    Api(ApiError),
}

impl From<ApiError> for SettleError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<sqlx::Error> for SettleError {
    fn from(error: sqlx::Error) -> Self {
        Self::Api(error.into())
    }
}

impl From<SettleError> for ApiError {
    fn from(error: SettleError) -> Self {
        match error {
            SettleError::NotFound => {
                ApiError::NotFound("This order has no reservation.".to_owned())
            }
            SettleError::Conflict(status) => ApiError::conflict(format!(
                "The reservation is {}; it cannot change any more.",
                status.as_str()
            )),
            SettleError::Api(error) => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    const STATUSES: [Status; 4] = [
        Status::Reserved,
        Status::Committed,
        Status::Released,
        Status::Expired,
    ];

    fn line(id: u128, quantity: u32) -> ReserveLine {
        ReserveLine {
            product_id: Uuid::from_u128(id),
            quantity,
        }
    }

    fn fields(request: &ReserveRequest) -> Vec<String> {
        check_request(request)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn request_rules_name_the_line() {
        let request = ReserveRequest {
            order_id: Uuid::from_u128(1),
            lines: vec![line(2, 1), line(3, 0), line(2, 4)],
            ttl_seconds: Some(0),
        };
        assert_eq!(
            fields(&request),
            ["lines[1].quantity", "lines[2].product_id", "ttl_seconds"]
        );
        let empty = ReserveRequest {
            order_id: Uuid::from_u128(1),
            lines: vec![],
            ttl_seconds: None,
        };
        assert_eq!(fields(&empty), ["lines"]);
    }

    #[test]
    fn lines_are_kept_in_lock_order() {
        let lines = sorted(&[line(9, 1), line(3, 2), line(5, 1)]);
        let ids: Vec<u128> = lines.iter().map(|l| l.product_id.as_u128()).collect();
        assert_eq!(ids, [3, 5, 9]);
    }

    #[test]
    fn shortfall_reports_what_is_left() {
        assert_eq!(shortfall(&line(1, 3), 5, 3).map(|s| s.available), Some(2));
        assert_eq!(shortfall(&line(1, 2), 5, 3), None);
        // More than u32::MAX units left covers any line.
        assert_eq!(shortfall(&line(1, u32::MAX), i64::MAX, 0), None);
    }

    #[test]
    fn settlements_are_idempotent_and_never_leave_an_end_state_by_commit() {
        for settle in [Settle::Commit, Settle::Release] {
            for from in STATUSES {
                match settle.transition(from) {
                    // Settling again where the first settlement left it changes nothing.
                    Ok(Some(moved)) => assert_eq!(settle.transition(moved.to), Ok(None)),
                    Ok(None) => {}
                    Err(status) => {
                        assert_eq!(settle, Settle::Commit);
                        assert!(matches!(status, Status::Released | Status::Expired));
                    }
                }
            }
        }
    }

    #[test]
    fn only_a_commit_leaves_the_available_stock_as_it_was() {
        let commit = Settle::Commit
            .transition(Status::Reserved)
            .expect("legal")
            .expect("a move");
        assert!(!commit.stock_changed());
        // A commit takes the units out of both counters: `on_hand - reserved` stays.
        assert_eq!(commit.on_hand_out, commit.reserved_out);
        for from in [Status::Reserved, Status::Committed] {
            assert!(
                Settle::Release
                    .transition(from)
                    .expect("legal")
                    .expect("a move")
                    .stock_changed()
            );
        }
        assert!(Transition::EXPIRE.stock_changed());
    }

    #[test]
    fn the_stored_words_are_the_api_words() {
        for status in STATUSES {
            let api = serde_json::to_value(ReservationStatus::from(status)).expect("serialize");
            assert_eq!(api, status.as_str());
        }
    }

    proptest! {
        #[test]
        fn a_line_is_short_exactly_when_fewer_units_are_left(
            (on_hand, reserved) in (0..=i64::from(u32::MAX) * 2)
                .prop_flat_map(|on_hand| (Just(on_hand), 0..=on_hand)),
            quantity in 1..=u32::MAX,
        ) {
            let left = on_hand - reserved;
            match shortfall(&line(1, quantity), on_hand, reserved) {
                Some(short) => {
                    prop_assert!(left < i64::from(quantity));
                    prop_assert_eq!(i64::from(short.available), left);
                    prop_assert_eq!(short.requested, quantity);
                }
                None => prop_assert!(left >= i64::from(quantity)),
            }
        }

        #[test]
        fn distinct_positive_lines_within_the_limits_are_valid(
            quantities in proptest::collection::vec(1..=u32::MAX, 1..=MAX_LINES),
            ttl in proptest::option::of(1..=MAX_TTL_SECONDS),
        ) {
            let lines = quantities
                .iter()
                .enumerate()
                .map(|(i, &q)| line(i as u128, q))
                .collect();
            let request = ReserveRequest { order_id: Uuid::from_u128(1), lines, ttl_seconds: ttl };
            prop_assert!(check_request(&request).is_empty());
        }
    }
}
