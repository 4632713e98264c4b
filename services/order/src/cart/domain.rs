//! The cart's line limit, and which of a guest cart's lines a merge moves. No IO.

use time::OffsetDateTime;
use uuid::Uuid;

/// The most distinct products a cart holds.
pub const MAX_LINES: u8 = 100;

/// A line leaving a guest cart for an account's cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MovingLine {
    pub(crate) product_id: Uuid,
    pub(crate) quantity: i32,
    pub(crate) added_at: OffsetDateTime,
}

/// Which of a guest cart's `moving` lines (in the order they were added) join a cart that
/// holds the products `held`: those it holds already, and new ones while it holds fewer than
/// [`MAX_LINES`] products; and the products left out.
pub(crate) fn fit(held: &[Uuid], moving: Vec<MovingLine>) -> (Vec<MovingLine>, Vec<Uuid>) {
    let mut room = usize::from(MAX_LINES).saturating_sub(held.len());
    let mut merged = Vec::new();
    let mut left_out = Vec::new();
    for line in moving {
        if held.contains(&line.product_id) {
            merged.push(line);
        } else if room > 0 {
            room -= 1;
            merged.push(line);
        } else {
            left_out.push(line.product_id);
        }
    }
    (merged, left_out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn line(n: u128) -> MovingLine {
        MovingLine {
            product_id: Uuid::from_u128(n),
            quantity: 1,
            added_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_full_cart_takes_only_the_products_it_holds() {
        let held: Vec<Uuid> = (0..u128::from(MAX_LINES)).map(Uuid::from_u128).collect();
        let (merged, left_out) = fit(&held, vec![line(5), line(1000)]);
        assert_eq!(merged, [line(5)]);
        assert_eq!(left_out, [Uuid::from_u128(1000)]);
    }

    proptest! {
        #[test]
        fn every_line_is_merged_or_left_out_and_the_cart_never_overflows(
            held in proptest::collection::btree_set(0u128..300, 0..=usize::from(MAX_LINES)),
            moving in proptest::collection::btree_set(0u128..300, 0..150),
        ) {
            let held: Vec<Uuid> = held.into_iter().map(Uuid::from_u128).collect();
            let moving: Vec<MovingLine> = moving.into_iter().map(line).collect();
            let (merged, left_out) = fit(&held, moving.clone());
            prop_assert_eq!(merged.len() + left_out.len(), moving.len());
            let new = merged.iter().filter(|l| !held.contains(&l.product_id)).count();
            prop_assert!(held.len() + new <= usize::from(MAX_LINES));
            // Nothing is left out while there is room.
            prop_assert!(left_out.is_empty() || held.len() + new == usize::from(MAX_LINES));
            prop_assert!(left_out.iter().all(|id| !held.contains(id)));
        }
    }
}
