//! The search as validated, its sort, and the typo correction's choice of words, without IO.

use contracts::catalog::ProductSort;
use contracts::pagination::PageLimit;
use kit::ApiError;
use kit::error::field_error;
use uuid::Uuid;

/// How similar a known word must be to a query word to replace it, as trigram similarity: low
/// enough for a typo or two ("keybaord" scores 0.38 against "keyboard", "keyb" 0.4), high
/// enough to leave unrelated words alone.
pub(crate) const SIMILARITY_THRESHOLD: f32 = 0.3;

/// A known word near a query word, and its trigram similarity.
pub(crate) type Near = (String, f32);

/// A word of the query and the known words nearest to it by trigrams, nearest first.
#[derive(Debug)]
pub(crate) struct QueryWord {
    pub(crate) term: String,
    pub(crate) candidates: Vec<Near>,
}

/// A validated search.
#[derive(Debug, Clone)]
pub(crate) struct Search {
    pub(crate) text: Option<String>,
    pub(crate) categories: Option<Vec<Uuid>>,
    pub(crate) min_price: Option<i64>,
    pub(crate) max_price: Option<i64>,
    pub(crate) in_stock: Option<bool>,
    pub(crate) featured: Option<bool>,
    pub(crate) sort: ProductSort,
    pub(crate) limit: PageLimit,
    pub(crate) include_hidden: bool,
}

pub(crate) fn bad_query(field: &str, message: &str) -> ApiError {
    ApiError::BadRequest {
        detail: format!("The query parameter `{field}` is invalid: {message}."),
        errors: vec![field_error(field, "invalid", message)],
    }
}

pub(crate) fn foreign_cursor() -> ApiError {
    bad_query(
        "cursor",
        "is not a cursor this service gave for this search; start from the first page",
    )
}

/// The sort a search really uses: relevance without a text query means newest first.
pub(crate) fn effective_sort(search: &Search) -> ProductSort {
    match (search.sort, &search.text) {
        (ProductSort::Relevance, None) => ProductSort::Newest,
        (sort, _) => sort,
    }
}

/// The query with each word replaced by the known word it was most likely meant as, or `None`
/// when no word changes (searching again would find nothing again).
///
/// The typo budget is the shop search engines' (Meilisearch, Typesense): a word of 5 to 8
/// letters may be one edit away, a word of 9 or more two, where an edit is a letter added,
/// dropped, changed, or two neighbours swapped (optimal string alignment distance). Trigram
/// similarity alone misses short words with a swap ("seleve" shares 3 of 11 trigrams with
/// "sleeve"), so it only nominates the candidates: the words nearest by trigrams, from the
/// GiST index, of which the fewest edits wins. A word without a candidate in budget (shorter
/// words, truncations like "keyb") takes the most similar word above the similarity threshold,
/// as before.
pub(crate) fn correct(words: Vec<QueryWord>) -> Option<String> {
    let mut changed = false;
    let corrected: Vec<String> = words
        .into_iter()
        .map(
            |QueryWord { term, candidates }| match best_word(&term, &candidates) {
                Some(best) if best != term => {
                    changed = true;
                    best
                }
                _ => term,
            },
        )
        .collect();
    changed.then(|| corrected.join(" "))
}

/// Edits a query word of `letters` letters may be away from the word it was meant as.
fn typo_budget(letters: usize) -> usize {
    match letters {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// The word `term` was meant as among `candidates` (nearest by trigrams first): the fewest
/// edits within the typo budget, else the most similar above the threshold.
fn best_word(term: &str, candidates: &[Near]) -> Option<String> {
    let budget = typo_budget(term.chars().count());
    candidates
        .iter()
        .map(|(word, _)| (strsim::osa_distance(term, word), word))
        .filter(|&(edits, _)| edits <= budget)
        .min_by_key(|&(edits, _)| edits)
        .map(|(_, word)| word)
        .or_else(|| {
            candidates
                .first()
                .filter(|(_, similarity)| *similarity >= SIMILARITY_THRESHOLD)
                .map(|(word, _)| word)
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn candidates(words: &[(&str, f32)]) -> Vec<Near> {
        words.iter().map(|&(w, s)| (w.to_owned(), s)).collect()
    }

    fn word(term: &str, near: &[(&str, f32)]) -> QueryWord {
        QueryWord {
            term: term.to_owned(),
            candidates: candidates(near),
        }
    }

    #[test]
    fn a_query_is_corrected_word_by_word_or_not_at_all() {
        let query = vec![
            word("wireless", &[("wireless", 1.0)]),
            word("keybaord", &[("keyboard", 0.38)]),
        ];
        assert_eq!(correct(query).as_deref(), Some("wireless keyboard"));
        assert_eq!(correct(vec![word("zzzz", &[("mouse", 0.1)])]), None);
        assert_eq!(correct(vec![word("xy", &[])]), None);
    }

    proptest! {
        #[test]
        fn a_query_of_known_words_is_left_as_it_is(
            terms in proptest::collection::vec("[a-z0-9]{1,12}", 1..6),
            others in proptest::collection::vec(("[a-z0-9]{1,12}", 0.0f32..=1.0), 0..6),
        ) {
            let words = terms
                .iter()
                .map(|term| {
                    let mut candidates = others.clone();
                    candidates.push((term.clone(), 1.0));
                    QueryWord { term: term.clone(), candidates }
                })
                .collect();
            prop_assert_eq!(correct(words), None);
        }
    }

    #[test]
    fn one_typo_in_five_to_eight_letters_a_swap_included() {
        // "sleeve" is not the nearest by trigrams, and below the similarity threshold.
        let near = candidates(&[("select", 0.3), ("sleeve", 0.27), ("sleek", 0.2)]);
        assert_eq!(best_word("seleve", &near).as_deref(), Some("sleeve"));
        let near = candidates(&[("keyboard", 0.38)]);
        assert_eq!(best_word("keybaord", &near).as_deref(), Some("keyboard"));
        // Two edits in six letters are over the budget, and not similar enough either.
        let near = candidates(&[("sleeve", 0.1)]);
        assert_eq!(best_word("slaevx", &near), None);
    }

    #[test]
    fn two_typos_from_nine_letters() {
        let near = candidates(&[("headphone", 0.2), ("headphones", 0.25)]);
        assert_eq!(
            best_word("haedphoens", &near).as_deref(),
            Some("headphones")
        );
        let near = candidates(&[("headset", 0.1)]);
        assert_eq!(best_word("haedphoens", &near), None);
    }

    #[test]
    fn the_fewest_edits_win_and_the_nearest_breaks_ties() {
        let near = candidates(&[("mouser", 0.5), ("mouse", 0.4), ("moose", 0.3)]);
        assert_eq!(best_word("mouse", &near).as_deref(), Some("mouse"));
        let near = candidates(&[("cable", 0.4), ("table", 0.4)]);
        assert_eq!(best_word("gable", &near).as_deref(), Some("cable"));
    }

    #[test]
    fn short_words_and_truncations_take_the_most_similar_above_the_threshold() {
        assert_eq!(typo_budget(4), 0);
        assert_eq!(typo_budget(5), 1);
        assert_eq!(typo_budget(8), 1);
        assert_eq!(typo_budget(9), 2);
        let near = candidates(&[("mouse", 0.375)]);
        assert_eq!(best_word("mose", &near).as_deref(), Some("mouse"));
        let near = candidates(&[("keyboard", 0.4)]);
        assert_eq!(best_word("keyb", &near).as_deref(), Some("keyboard"));
        let near = candidates(&[("mouse", 0.2)]);
        assert_eq!(best_word("zzzz", &near), None);
    }
}
