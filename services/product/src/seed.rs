//! The demo catalog loaded by `product seed`: 10 categories and 70 products with stock and
//! generated images, 8 of them featured on the home page.
//!
//! It only ever adds what is missing, and never changes or restores what an admin did: the
//! local stack seeds on every start, and a shop's data must survive that. So an admin's edits
//! to demo products and categories stay, products and categories an admin deleted stay
//! deleted, and stock that orders moved is left alone. It is deterministic (ids are UUID v5 of
//! the slugs and SKUs) and idempotent: a re-run adds nothing. A demo row whose slug or SKU an
//! admin has since given to another row is skipped, and so are the products of a demo category
//! that is deleted or was skipped.
//!
//! The one change it makes to existing rows fills in what an older seed could not set: a
//! catalog seeded before products could be featured gets the demo's featured picks, on the
//! demo products no admin has written (see [`feature_untouched`]).

use contracts::catalog::NewProduct;
use contracts::money::{Currency, Money};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::cache::Cache;
use crate::images::image_path;
use crate::{catalog, categories, inventory};

/// What the seed wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Categories in the demo catalog.
    pub categories: usize,
    /// Products in the demo catalog.
    pub products: usize,
    /// Demo categories this run added (0 on a re-run).
    pub categories_added: u64,
    /// Demo products this run added, each with its stock (0 on a re-run).
    pub products_added: u64,
    /// Demo products this run featured: added as featured, or existing ones that no admin has
    /// written yet (0 on a re-run).
    pub products_featured: u64,
}

/// The namespace of the demo catalog's UUID v5 ids.
fn namespace() -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        b"https://github.com/ecommerce-platform/ecommerce/product/seed",
    )
}

/// The id of the demo category with `slug`.
pub fn category_id(slug: &str) -> Uuid {
    Uuid::new_v5(&namespace(), format!("category:{slug}").as_bytes())
}

/// The id of the demo product with `sku`.
pub fn product_id(sku: &str) -> Uuid {
    Uuid::new_v5(&namespace(), format!("product:{sku}").as_bytes())
}

/// A demo category: slug, name, parent slug.
type CategorySeed = (&'static str, &'static str, Option<&'static str>);

const CATEGORIES: [CategorySeed; 10] = [
    ("peripherals", "Peripherals", None),
    ("computers", "Computers", None),
    ("audio", "Audio", None),
    ("accessories", "Accessories", None),
    ("keyboards", "Keyboards", Some("peripherals")),
    ("mice", "Mice", Some("peripherals")),
    ("laptops", "Laptops", Some("computers")),
    ("monitors", "Monitors", Some("computers")),
    ("headphones", "Headphones", Some("audio")),
    ("speakers", "Speakers", Some("audio")),
];

/// A demo product: name, description, price in minor units, attributes.
type ProductSeed = (
    &'static str,
    &'static str,
    i64,
    &'static [(&'static str, &'static str)],
);

/// The products of each leaf category, by category slug and SKU prefix.
const PRODUCTS: [(&str, &str, [ProductSeed; 10]); 7] = [
    (
        "keyboards",
        "KB",
        [
            (
                "Arcwell K2 Mechanical Keyboard",
                "A compact 75% mechanical keyboard with hot-swappable brown switches, PBT keycaps and a detachable USB-C cable.",
                8900,
                &[
                    ("layout", "75%"),
                    ("switches", "brown"),
                    ("connection", "wired"),
                ],
            ),
            (
                "Arcwell K4 Wireless Mechanical Keyboard",
                "Full-size mechanical keyboard with Bluetooth and 2.4 GHz wireless, red linear switches and a 200-hour battery.",
                12900,
                &[
                    ("layout", "full-size"),
                    ("switches", "red"),
                    ("connection", "wireless"),
                ],
            ),
            (
                "Northkey Tenkeyless Pro",
                "Tenkeyless board with an aluminium case, gasket mount and tactile switches for a quiet, cushioned typing feel.",
                15900,
                &[
                    ("layout", "tenkeyless"),
                    ("switches", "tactile"),
                    ("connection", "wired"),
                ],
            ),
            (
                "Northkey Slim Office Keyboard",
                "Low-profile scissor-switch keyboard with a numeric pad, quiet keys and three-device Bluetooth pairing.",
                4900,
                &[
                    ("layout", "full-size"),
                    ("switches", "scissor"),
                    ("connection", "wireless"),
                ],
            ),
            (
                "Lumen RGB Gaming Keyboard",
                "Per-key RGB lighting, optical switches with 0.2 ms response and a magnetic wrist rest for long sessions.",
                10900,
                &[
                    ("layout", "full-size"),
                    ("switches", "optical"),
                    ("lighting", "RGB"),
                ],
            ),
            (
                "Lumen 60 Mini Keyboard",
                "A 60% keyboard for small desks and travel, with programmable layers and hot-swappable sockets.",
                6900,
                &[
                    ("layout", "60%"),
                    ("switches", "blue"),
                    ("connection", "wired"),
                ],
            ),
            (
                "Quill Ergonomic Split Keyboard",
                "Split, tented keyboard that keeps wrists straight, with a cushioned palm rest and programmable thumb keys.",
                17900,
                &[
                    ("layout", "split"),
                    ("switches", "tactile"),
                    ("connection", "wired"),
                ],
            ),
            (
                "Quill Silent Wireless Keyboard",
                "Whisper-quiet membrane keys, spill-resistant design and a battery that lasts two years.",
                3900,
                &[
                    ("layout", "full-size"),
                    ("switches", "membrane"),
                    ("connection", "wireless"),
                ],
            ),
            (
                "Halcyon Low Profile Mechanical Keyboard",
                "Slim mechanical keyboard with low-profile switches, white backlight and a brushed aluminium top plate.",
                11900,
                &[
                    ("layout", "tenkeyless"),
                    ("switches", "low-profile"),
                    ("lighting", "white"),
                ],
            ),
            (
                "Halcyon Numeric Keypad",
                "Standalone wireless numeric keypad for spreadsheets, pairs with any laptop over Bluetooth.",
                2900,
                &[("layout", "numpad"), ("connection", "wireless")],
            ),
        ],
    ),
    (
        "mice",
        "MS",
        [
            (
                "Arcwell Precision Wireless Mouse",
                "Ergonomic wireless mouse with a 4000 DPI sensor, silent clicks and a USB-C rechargeable battery.",
                4900,
                &[
                    ("dpi", "4000"),
                    ("connection", "wireless"),
                    ("grip", "palm"),
                ],
            ),
            (
                "Arcwell Travel Mouse",
                "Pocket-size Bluetooth mouse with a flat profile, ideal for laptops on the go.",
                2900,
                &[
                    ("dpi", "1600"),
                    ("connection", "bluetooth"),
                    ("grip", "fingertip"),
                ],
            ),
            (
                "Northkey Vertical Ergonomic Mouse",
                "Vertical design that holds the hand in a natural handshake position to reduce wrist strain.",
                5900,
                &[
                    ("dpi", "2400"),
                    ("connection", "wireless"),
                    ("grip", "vertical"),
                ],
            ),
            (
                "Lumen Lightweight Gaming Mouse",
                "A 58 g honeycomb-shell gaming mouse with a 26000 DPI optical sensor and paracord cable.",
                6900,
                &[
                    ("dpi", "26000"),
                    ("connection", "wired"),
                    ("weight", "58 g"),
                ],
            ),
            (
                "Lumen Wireless Gaming Mouse",
                "Low-latency 2.4 GHz gaming mouse with eight programmable buttons and RGB lighting.",
                9900,
                &[
                    ("dpi", "20000"),
                    ("connection", "wireless"),
                    ("lighting", "RGB"),
                ],
            ),
            (
                "Quill Trackball Mouse",
                "Thumb-operated trackball that stays put on the desk, with precision mode for detailed work.",
                7900,
                &[
                    ("dpi", "2000"),
                    ("connection", "wireless"),
                    ("grip", "trackball"),
                ],
            ),
            (
                "Quill Silent Office Mouse",
                "Quiet-click wired mouse with a contoured shape for all-day office use.",
                1900,
                &[("dpi", "1200"), ("connection", "wired")],
            ),
            (
                "Halcyon Multi-Device Mouse",
                "Switch between three computers with one button; scrolls 1000 lines a second on a steel wheel.",
                8900,
                &[
                    ("dpi", "8000"),
                    ("connection", "wireless"),
                    ("devices", "3"),
                ],
            ),
            (
                "Halcyon Left-Handed Mouse",
                "An ergonomic mouse shaped for left hands, with two thumb buttons and a 3200 DPI sensor.",
                4500,
                &[
                    ("dpi", "3200"),
                    ("connection", "wireless"),
                    ("hand", "left"),
                ],
            ),
            (
                "Orbit Large Desk Mouse Pad",
                "Extended 900 x 400 mm cloth mouse pad with stitched edges and a non-slip rubber base.",
                2400,
                &[("size", "900 x 400 mm"), ("material", "cloth")],
            ),
        ],
    ),
    (
        "laptops",
        "LT",
        [
            (
                "Vantage 14 Ultrabook",
                "A 1.2 kg 14-inch ultrabook with an 8-core processor, 16 GB of memory and an all-day battery.",
                129900,
                &[
                    ("screen", "14 inch"),
                    ("memory", "16 GB"),
                    ("storage", "512 GB SSD"),
                ],
            ),
            (
                "Vantage 16 Pro Laptop",
                "16-inch creator laptop with a colour-accurate 3K display, 32 GB of memory and a dedicated graphics card.",
                219900,
                &[
                    ("screen", "16 inch"),
                    ("memory", "32 GB"),
                    ("storage", "1 TB SSD"),
                ],
            ),
            (
                "Vantage 13 Student Laptop",
                "Light, durable 13-inch laptop with a spill-resistant keyboard and 12-hour battery.",
                69900,
                &[
                    ("screen", "13 inch"),
                    ("memory", "8 GB"),
                    ("storage", "256 GB SSD"),
                ],
            ),
            (
                "Ember 15 Gaming Laptop",
                "15.6-inch 165 Hz gaming laptop with RTX-class graphics and a per-key RGB keyboard.",
                179900,
                &[
                    ("screen", "15.6 inch"),
                    ("refresh", "165 Hz"),
                    ("memory", "16 GB"),
                ],
            ),
            (
                "Ember 17 Gaming Laptop",
                "17-inch desktop replacement with a 240 Hz display, vapour-chamber cooling and 2 TB of storage.",
                259900,
                &[
                    ("screen", "17 inch"),
                    ("refresh", "240 Hz"),
                    ("storage", "2 TB SSD"),
                ],
            ),
            (
                "Solace 14 2-in-1 Laptop",
                "Convertible touchscreen laptop with a 360-degree hinge and an included active pen.",
                99900,
                &[("screen", "14 inch"), ("touch", "yes"), ("memory", "16 GB")],
            ),
            (
                "Solace 12 Chromebook",
                "Fast-booting 12-inch Chromebook with a rugged shell and 10-hour battery.",
                34900,
                &[
                    ("screen", "12 inch"),
                    ("memory", "4 GB"),
                    ("storage", "64 GB"),
                ],
            ),
            (
                "Tidal 15 Business Laptop",
                "Business laptop with a fingerprint reader, privacy shutter and a magnesium chassis.",
                149900,
                &[
                    ("screen", "15 inch"),
                    ("memory", "16 GB"),
                    ("security", "fingerprint"),
                ],
            ),
            (
                "Tidal 14 Workstation Laptop",
                "Mobile workstation certified for CAD tools, with ECC memory and professional graphics.",
                279900,
                &[
                    ("screen", "14 inch"),
                    ("memory", "64 GB"),
                    ("storage", "2 TB SSD"),
                ],
            ),
            (
                "Orbit 13 Fanless Laptop",
                "Completely silent fanless 13-inch laptop with an aluminium unibody and a crisp 2.5K screen.",
                109900,
                &[
                    ("screen", "13 inch"),
                    ("memory", "16 GB"),
                    ("cooling", "fanless"),
                ],
            ),
        ],
    ),
    (
        "monitors",
        "MN",
        [
            (
                "Vantage 27 4K Monitor",
                "27-inch 4K IPS monitor with 99% sRGB coverage, USB-C power delivery and a height-adjustable stand.",
                44900,
                &[
                    ("size", "27 inch"),
                    ("resolution", "3840 x 2160"),
                    ("panel", "IPS"),
                ],
            ),
            (
                "Vantage 24 Office Monitor",
                "24-inch full-HD monitor with low blue light, thin bezels and built-in speakers.",
                15900,
                &[
                    ("size", "24 inch"),
                    ("resolution", "1920 x 1080"),
                    ("panel", "IPS"),
                ],
            ),
            (
                "Vantage 32 QHD Curved Monitor",
                "32-inch curved VA monitor at 2560 x 1440 for immersive work and play.",
                34900,
                &[
                    ("size", "32 inch"),
                    ("resolution", "2560 x 1440"),
                    ("panel", "VA"),
                ],
            ),
            (
                "Ember 27 Gaming Monitor 240 Hz",
                "27-inch QHD gaming monitor with 240 Hz refresh, 1 ms response and adaptive sync.",
                49900,
                &[("size", "27 inch"), ("refresh", "240 Hz"), ("panel", "IPS")],
            ),
            (
                "Ember 34 Ultrawide Monitor",
                "34-inch ultrawide 144 Hz monitor with a 1500R curve and HDR400.",
                59900,
                &[
                    ("size", "34 inch"),
                    ("resolution", "3440 x 1440"),
                    ("refresh", "144 Hz"),
                ],
            ),
            (
                "Ember 25 Esports Monitor",
                "24.5-inch 360 Hz monitor tuned for competitive shooters.",
                54900,
                &[
                    ("size", "24.5 inch"),
                    ("refresh", "360 Hz"),
                    ("panel", "TN"),
                ],
            ),
            (
                "Lumen 27 OLED Monitor",
                "27-inch OLED monitor with perfect blacks, 0.03 ms response and true HDR.",
                89900,
                &[
                    ("size", "27 inch"),
                    ("panel", "OLED"),
                    ("hdr", "True Black 400"),
                ],
            ),
            (
                "Lumen 16 Portable Monitor",
                "A 16-inch USB-C portable monitor that travels with your laptop in a folding cover.",
                19900,
                &[
                    ("size", "16 inch"),
                    ("connection", "USB-C"),
                    ("weight", "700 g"),
                ],
            ),
            (
                "Tidal 32 5K Designer Monitor",
                "32-inch 5K monitor with factory colour calibration and Thunderbolt daisy-chaining.",
                129900,
                &[
                    ("size", "32 inch"),
                    ("resolution", "5120 x 2880"),
                    ("connection", "Thunderbolt"),
                ],
            ),
            (
                "Tidal Dual Monitor Arm",
                "Gas-spring arm that holds two monitors up to 32 inches, with cable management.",
                12900,
                &[("fits", "up to 32 inch"), ("mount", "clamp")],
            ),
        ],
    ),
    (
        "headphones",
        "HP",
        [
            (
                "Solace ANC Wireless Headphones",
                "Over-ear headphones with adaptive noise cancelling, 40-hour battery and multipoint Bluetooth.",
                29900,
                &[
                    ("type", "over-ear"),
                    ("noise cancelling", "active"),
                    ("battery", "40 h"),
                ],
            ),
            (
                "Solace Studio Monitor Headphones",
                "Closed-back studio headphones with a flat response for mixing and recording.",
                14900,
                &[
                    ("type", "over-ear"),
                    ("connection", "wired"),
                    ("impedance", "38 ohm"),
                ],
            ),
            (
                "Solace True Wireless Earbuds",
                "Compact earbuds with noise cancelling, wireless charging case and IPX4 sweat resistance.",
                17900,
                &[
                    ("type", "in-ear"),
                    ("noise cancelling", "active"),
                    ("water resistance", "IPX4"),
                ],
            ),
            (
                "Tidal Open-Back Headphones",
                "Open-back reference headphones with a wide soundstage and velour pads.",
                24900,
                &[
                    ("type", "over-ear"),
                    ("design", "open-back"),
                    ("connection", "wired"),
                ],
            ),
            (
                "Tidal Sport Earbuds",
                "Secure-fit sport earbuds with ear hooks, 10-hour battery and IPX7 waterproofing.",
                8900,
                &[
                    ("type", "in-ear"),
                    ("water resistance", "IPX7"),
                    ("battery", "10 h"),
                ],
            ),
            (
                "Ember Gaming Headset",
                "Gaming headset with 7.1 surround sound, detachable boom microphone and memory-foam cushions.",
                9900,
                &[
                    ("type", "over-ear"),
                    ("microphone", "boom"),
                    ("connection", "USB"),
                ],
            ),
            (
                "Ember Wireless Gaming Headset",
                "Low-latency wireless headset with a 30-hour battery and a flip-to-mute microphone.",
                15900,
                &[
                    ("type", "over-ear"),
                    ("microphone", "flip-to-mute"),
                    ("connection", "wireless"),
                ],
            ),
            (
                "Quill On-Ear Headphones",
                "Foldable on-ear headphones with a 50-hour battery and a built-in microphone for calls.",
                6900,
                &[
                    ("type", "on-ear"),
                    ("battery", "50 h"),
                    ("connection", "bluetooth"),
                ],
            ),
            (
                "Quill Kids Headphones",
                "Volume-limited headphones for children, with a bendable headband and a share port.",
                2900,
                &[("type", "on-ear"), ("volume limit", "85 dB")],
            ),
            (
                "Halcyon Bone Conduction Headphones",
                "Open-ear bone conduction headphones that keep you aware of traffic while you run.",
                12900,
                &[
                    ("type", "open-ear"),
                    ("water resistance", "IP67"),
                    ("battery", "8 h"),
                ],
            ),
        ],
    ),
    (
        "speakers",
        "SP",
        [
            (
                "Orbit Portable Bluetooth Speaker",
                "Waterproof portable speaker with 360-degree sound and a 20-hour battery.",
                7900,
                &[
                    ("battery", "20 h"),
                    ("water resistance", "IP67"),
                    ("connection", "bluetooth"),
                ],
            ),
            (
                "Orbit Mini Speaker",
                "A palm-sized speaker with a carabiner clip, for hikes and showers.",
                3500,
                &[("battery", "12 h"), ("water resistance", "IP67")],
            ),
            (
                "Orbit Party Speaker",
                "Big-room speaker with deep bass, light show and a karaoke microphone input.",
                34900,
                &[("power", "160 W"), ("battery", "18 h"), ("lighting", "RGB")],
            ),
            (
                "Halcyon Bookshelf Speakers",
                "Pair of powered bookshelf speakers with optical, USB and Bluetooth inputs.",
                39900,
                &[("power", "2 x 50 W"), ("inputs", "optical, USB, bluetooth")],
            ),
            (
                "Halcyon Desktop Speakers",
                "Compact 2.0 desktop speakers with a headphone jack and volume knob on the front.",
                9900,
                &[("power", "2 x 15 W"), ("connection", "USB-C")],
            ),
            (
                "Halcyon Soundbar",
                "Slim soundbar with dialogue enhancement and HDMI eARC for the TV.",
                24900,
                &[("channels", "3.0"), ("connection", "HDMI eARC")],
            ),
            (
                "Lumen Gaming Speakers 2.1",
                "2.1 speaker set with a down-firing subwoofer and reactive RGB lighting.",
                12900,
                &[("channels", "2.1"), ("lighting", "RGB")],
            ),
            (
                "Lumen Smart Speaker",
                "Wi-Fi smart speaker with voice assistant, multi-room audio and a fabric finish.",
                9900,
                &[("connection", "wifi"), ("voice assistant", "yes")],
            ),
            (
                "Tidal Studio Monitors",
                "Pair of 5-inch active studio monitors with room-correction switches.",
                44900,
                &[("woofer", "5 inch"), ("power", "2 x 70 W")],
            ),
            (
                "Tidal Conference Speakerphone",
                "USB and Bluetooth speakerphone with a 360-degree microphone array for meeting rooms.",
                14900,
                &[("microphones", "6"), ("connection", "USB, bluetooth")],
            ),
        ],
    ),
    (
        "accessories",
        "AC",
        [
            (
                "Orbit USB-C Hub 7-in-1",
                "Aluminium USB-C hub with HDMI 4K, two USB-A ports, SD card readers and 100 W pass-through charging.",
                4900,
                &[("ports", "7"), ("power delivery", "100 W")],
            ),
            (
                "Orbit Thunderbolt Dock",
                "Thunderbolt dock for two 4K monitors, 2.5 GbE Ethernet and 96 W laptop charging.",
                27900,
                &[("ports", "12"), ("displays", "2 x 4K")],
            ),
            (
                "Orbit Braided USB-C Cable 2 m",
                "Braided USB-C to USB-C cable rated for 240 W charging and 10 Gbps data.",
                1900,
                &[("length", "2 m"), ("power", "240 W")],
            ),
            (
                "Vantage Laptop Stand",
                "Adjustable aluminium laptop stand that lifts the screen to eye level and folds flat.",
                3900,
                &[("material", "aluminium"), ("fits", "10 to 17 inch")],
            ),
            (
                "Vantage Laptop Backpack",
                "Water-resistant backpack with a padded 16-inch laptop sleeve and luggage strap.",
                7900,
                &[("fits", "16 inch"), ("volume", "22 l")],
            ),
            (
                "Vantage Laptop Sleeve 14",
                "Slim felt sleeve with a magnetic flap and a pocket for chargers.",
                2900,
                &[("fits", "14 inch"), ("material", "felt")],
            ),
            (
                "Quill Webcam 1080p",
                "Full-HD webcam with auto light correction, privacy cover and dual microphones.",
                5900,
                &[("resolution", "1080p"), ("microphones", "2")],
            ),
            (
                "Quill Desk Microphone",
                "USB condenser microphone with a cardioid pattern for podcasts and calls.",
                9900,
                &[("pattern", "cardioid"), ("connection", "USB")],
            ),
            (
                "Halcyon Wireless Charger Pad",
                "15 W wireless charging pad with a non-slip surface and a soft LED.",
                2500,
                &[("power", "15 W")],
            ),
            (
                "Halcyon 65 W GaN Charger",
                "Compact 65 W gallium-nitride charger with two USB-C ports and one USB-A port.",
                4500,
                &[("power", "65 W"), ("ports", "3")],
            ),
        ],
    ),
];

/// Units on hand, cycled over the products so the demo has sold-out and scarce items too.
const STOCK: [u32; 10] = [25, 8, 0, 40, 3, 60, 12, 1, 100, 17];

/// The demo products the home page features, by SKU: from every leaf category, all in stock.
const FEATURED: [&str; 8] = [
    "KB-001", "MS-005", "LT-002", "MN-001", "MN-007", "HP-002", "SP-001", "AC-003",
];

/// Adds the demo catalog's missing rows to `db`, with prices in `currency`, then forgets the
/// cached category list if it added a category and the cached details of the products it
/// featured. New products have nothing cached yet.
pub async fn run(db: &PgPool, cache: &Cache, currency: Currency) -> anyhow::Result<SeedReport> {
    let mut tx = db.begin().await?;
    // In line with the admin's category writes, so none is deleting what this run adds to.
    categories::lock_tree(&mut tx).await?;
    let mut categories_added = 0;
    // Parents come before their children in CATEGORIES, so a skipped or deleted parent leaves
    // its children out too rather than under a parent that is not there.
    for (slug, name, parent) in CATEGORIES {
        let added = categories::insert_if_absent(
            &mut tx,
            category_id(slug),
            slug,
            name,
            parent.map(category_id),
        )
        .await?;
        categories_added += u64::from(added);
    }
    let mut products = 0;
    let mut products_added = 0;
    let mut products_featured = 0;
    for (category, prefix, seeds) in PRODUCTS {
        for (index, (name, description, price, attributes)) in seeds.into_iter().enumerate() {
            let sku = format!("{prefix}-{:03}", index + 1);
            let id = product_id(&sku);
            let product = NewProduct {
                slug: slugify(name),
                name: name.to_owned(),
                description: description.to_owned(),
                price: Money::new(price, currency),
                image_url: Some(image_path(id)),
                attributes: attributes
                    .iter()
                    .map(|&(key, value)| (key.to_owned(), value.to_owned()))
                    .collect(),
                category_id: category_id(category),
                active: true,
                featured: FEATURED.contains(&sku.as_str()),
                stock: STOCK[(products + products / STOCK.len()) % STOCK.len()],
                sku,
            };
            // A product that exists, even deleted, conflicts on its id and is left as it is;
            // the stock row is only written for a product this run added.
            let added = catalog::insert_if_absent(&mut tx, id, &product).await?;
            if added {
                inventory::store::create(&mut tx, id, product.stock).await?;
            }
            products_added += u64::from(added);
            if product.featured {
                products_featured += u64::from(added);
            }
            products += 1;
        }
    }
    let backfilled = feature_untouched(&mut tx).await?;
    tx.commit().await?;
    if categories_added > 0 {
        cache.invalidate_categories().await;
    }
    cache.invalidate_products(backfilled.iter().copied()).await;
    Ok(SeedReport {
        categories: CATEGORIES.len(),
        products,
        categories_added,
        products_added,
        products_featured: products_featured + backfilled.len() as u64,
    })
}

/// Features the [`FEATURED`] demo products that exist, are not featured and that no admin has
/// written, for a catalog seeded before products could be featured; returns their ids.
///
/// Every admin write (fields, stock, deletion) counts a new version, so a demo product still at
/// version 1 is as the seed left it. This is not an admin write and keeps it at 1. A pick an
/// admin has unfeatured, or edited at all, is past version 1 and stays as the admin left it;
/// a concurrent admin write is waited for and then seen.
async fn feature_untouched(tx: &mut PgConnection) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = FEATURED.iter().map(|sku| product_id(sku)).collect();
    catalog::feature_unwritten(tx, &ids).await
}

/// The URL name of a product name: lowercase words joined by hyphens.
fn slugify(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::fields::{Sku, Slug};

    #[test]
    fn the_demo_catalog_is_valid_and_unique() {
        let mut slugs = HashSet::new();
        for (category, prefix, products) in PRODUCTS {
            assert!(CATEGORIES.iter().any(|(slug, _, _)| *slug == category));
            for (index, (name, description, price, _)) in products.iter().enumerate() {
                let slug = slugify(name);
                assert!(Slug::parse(&slug).is_ok(), "{slug}");
                assert!(Sku::parse(&format!("{prefix}-{:03}", index + 1)).is_ok());
                assert!(slugs.insert(slug), "{name} is listed twice");
                assert!(!description.is_empty() && *price > 0);
            }
        }
        assert!(slugs.len() >= 60);
        for (index, (slug, _, parent)) in CATEGORIES.iter().enumerate() {
            assert!(Slug::parse(slug).is_ok());
            // Parents come first: the seed only adds a category under a parent that exists.
            assert!(parent.is_none_or(|p| CATEGORIES[..index].iter().any(|(s, _, _)| *s == p)));
        }
    }

    #[test]
    fn the_featured_picks_are_distinct_demo_products_in_stock() {
        let mut stock_by_sku = BTreeMap::new();
        let mut index = 0;
        for (_, prefix, products) in PRODUCTS {
            for number in 1..=products.len() {
                let stock = STOCK[(index + index / STOCK.len()) % STOCK.len()];
                stock_by_sku.insert(format!("{prefix}-{number:03}"), stock);
                index += 1;
            }
        }
        let picks: HashSet<&str> = FEATURED.into_iter().collect();
        assert_eq!(picks.len(), FEATURED.len(), "each pick once");
        for (category, prefix, _) in PRODUCTS {
            assert!(
                FEATURED.iter().any(|sku| sku.starts_with(prefix)),
                "{category} has a pick"
            );
        }
        for sku in FEATURED {
            let stock = stock_by_sku.get(sku).copied();
            assert!(stock.is_some_and(|units| units > 0), "{sku}: {stock:?}");
        }
    }

    #[test]
    fn ids_are_stable() {
        assert_eq!(product_id("KB-001"), product_id("KB-001"));
        assert_ne!(product_id("KB-001"), product_id("KB-002"));
        assert_ne!(category_id("mice"), product_id("mice"));
        assert_eq!(slugify("Orbit USB-C Hub 7-in-1"), "orbit-usb-c-hub-7-in-1");
    }
}
