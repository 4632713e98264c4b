//! How values are shown to people and read back from form fields.
//!
//! Money travels as integer minor units ([`Money`]); only this module turns it into text like
//! `$19.99` and parses text like `19.99` back, so no float ever touches a price.

use contracts::money::{Currency, Money};
use contracts::orders::OrderStatus;
use time::OffsetDateTime;
use time::macros::format_description;

/// The number of decimals of a currency's minor unit (ISO 4217), 2 unless listed.
pub fn minor_digits(currency: Currency) -> u32 {
    match currency.as_str() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// The symbol written before amounts of well-known currencies; others show their code after.
fn symbol(currency: Currency) -> Option<&'static str> {
    match currency.as_str() {
        "USD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        "JPY" => Some("¥"),
        _ => None,
    }
}

/// `1234567` as `1,234,567`.
fn grouped(units: u64) -> String {
    let digits = units.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An amount as people read it: `$19.99`, `$2,599.00`, `-€5.00`, `¥1,200`, `12.50 CHF`.
pub fn money(value: Money) -> String {
    let digits = minor_digits(value.currency);
    let sign = if value.amount < 0 { "-" } else { "" };
    let units = value.amount.unsigned_abs();
    let number = if digits == 0 {
        grouped(units)
    } else {
        let scale = 10_u64.pow(digits);
        format!(
            "{}.{:0width$}",
            grouped(units / scale),
            units % scale,
            width = digits as usize
        )
    };
    match symbol(value.currency) {
        Some(symbol) => format!("{sign}{symbol}{number}"),
        None => format!("{sign}{number} {}", value.currency),
    }
}

/// An amount without symbol, as a form field shows it for editing: `19.99`.
pub fn amount_input(value: Money) -> String {
    let digits = minor_digits(value.currency);
    if digits == 0 {
        return value.amount.to_string();
    }
    let scale = 10_i64.pow(digits);
    let sign = if value.amount < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0width$}",
        (value.amount / scale).abs(),
        (value.amount % scale).abs(),
        width = digits as usize
    )
}

/// Reads a non-negative amount typed by a person (`19.99`, `19.9`, `19`, `1,299.00`) as minor
/// units of `currency`. The error is a message for the field.
pub fn parse_amount(text: &str, currency: Currency) -> Result<i64, String> {
    let digits = minor_digits(currency);
    let cleaned: String = text.trim().chars().filter(|c| *c != ',').collect();
    let example = if digits == 0 { "1200" } else { "19.99" };
    let invalid = || format!("Enter an amount like {example}.");
    if cleaned.is_empty() {
        return Err("Enter an amount.".to_owned());
    }
    let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || (cleaned.contains('.') && fraction.is_empty())
    {
        return Err(invalid());
    }
    if fraction.len() > digits as usize {
        return Err(match digits {
            0 => format!("{currency} has no decimals."),
            n => format!("Use at most {n} decimals."),
        });
    }
    let too_large = || "That amount is too large.".to_owned();
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let padded = format!("{fraction:0<width$}", width = digits as usize);
    let fraction: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().map_err(|_| invalid())?
    };
    whole
        .checked_mul(10_i64.pow(digits))
        .and_then(|minor| minor.checked_add(fraction))
        .ok_or_else(too_large)
}

/// A timestamp as `2024-05-01 12:00 UTC`.
pub fn date_time(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

/// The last 8 hex digits of an id: enough to tell orders apart on a screen. (Not the first:
/// ids are UUIDv7, whose first digits are a timestamp shared by everything made that minute.)
pub fn short_id(id: uuid::Uuid) -> String {
    let hex = id.simple().to_string();
    hex[hex.len() - 8..].to_uppercase()
}

/// An order status as a label.
pub fn status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "Pending",
        OrderStatus::Paid => "Paid",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::Delivered => "Delivered",
        OrderStatus::Cancelled => "Cancelled",
        OrderStatus::PaymentFailed => "Payment failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).expect("valid code")
    }

    #[test]
    fn money_is_formatted_from_minor_units() {
        assert_eq!(money(Money::new(1999, currency("USD"))), "$19.99");
        assert_eq!(money(Money::new(5, currency("EUR"))), "€0.05");
        assert_eq!(money(Money::new(-500, currency("GBP"))), "-£5.00");
        assert_eq!(money(Money::new(1200, currency("JPY"))), "¥1,200");
        assert_eq!(money(Money::new(259_900, currency("USD"))), "$2,599.00");
        assert_eq!(money(Money::new(100_000, currency("USD"))), "$1,000.00");
        assert_eq!(money(Money::new(99_999, currency("USD"))), "$999.99");
        assert_eq!(money(Money::new(1250, currency("CHF"))), "12.50 CHF");
        assert_eq!(money(Money::new(1234, currency("KWD"))), "1.234 KWD");
        assert_eq!(
            money(Money::new(i64::MIN, currency("USD"))),
            "-$92,233,720,368,547,758.08"
        );
    }

    #[test]
    fn amounts_round_trip_through_the_input() {
        let usd = currency("USD");
        for amount in [0, 1, 99, 100, 1999, 123_456_789] {
            let text = amount_input(Money::new(amount, usd));
            assert_eq!(parse_amount(&text, usd), Ok(amount), "{text}");
        }
        assert_eq!(amount_input(Money::new(1999, usd)), "19.99");
        assert_eq!(amount_input(Money::new(1200, currency("JPY"))), "1200");
    }

    #[test]
    fn typed_amounts_are_read_exactly() {
        let usd = currency("USD");
        assert_eq!(parse_amount("19.99", usd), Ok(1999));
        assert_eq!(parse_amount(" 19.9 ", usd), Ok(1990));
        assert_eq!(parse_amount("19", usd), Ok(1900));
        assert_eq!(parse_amount(".5", usd), Ok(50));
        assert_eq!(parse_amount("1,299.00", usd), Ok(129_900));
        assert_eq!(parse_amount("0.1", usd), Ok(10));
        assert_eq!(parse_amount("1200", currency("JPY")), Ok(1200));
    }

    #[test]
    fn bad_amounts_get_a_message() {
        let usd = currency("USD");
        assert_eq!(parse_amount("", usd), Err("Enter an amount.".to_owned()));
        assert_eq!(
            parse_amount("19.999", usd),
            Err("Use at most 2 decimals.".to_owned())
        );
        assert_eq!(
            parse_amount("12.5", currency("JPY")),
            Err("JPY has no decimals.".to_owned())
        );
        for text in ["-1", "1e3", "19.", ".", "abc", "1.2.3", "$5"] {
            assert!(parse_amount(text, usd).is_err(), "{text}");
        }
        assert_eq!(
            parse_amount("99999999999999999999", usd),
            Err("That amount is too large.".to_owned())
        );
        assert!(parse_amount("92233720368547758.08", usd).is_err());
    }

    #[test]
    fn ids_and_dates_are_short() {
        let id = uuid::Uuid::from_u128(0x0190_a1b2_c3d4_7e5f_8a9b_0c1d_2e3f_4a5b);
        assert_eq!(short_id(id), "2E3F4A5B");
        let same_minute = uuid::Uuid::from_u128(0x0190_a1b2_c3d4_7e5f_8a9b_0c1d_2e3f_4a5c);
        assert_ne!(short_id(same_minute), short_id(id));
        assert_eq!(
            date_time(time::macros::datetime!(2024-05-01 12:00:30 +02:00)),
            "2024-05-01 10:00 UTC"
        );
    }
}
