//! The answer budget: how much of the model's context one tool result may take.
//!
//! A client passes the model the text content, and some also pass `structuredContent`; each of
//! the two must fit on its own. Tokens are estimated as UTF-8 bytes / 3, rounded up: English
//! prose runs about 4 characters a token and JSON full of short keys, digits and punctuation
//! nearer 3, so bytes / 3 over-counts rather than under-counts (and counts a non-ASCII character
//! as two or three). The configured budget (`mcp.answer_budget`, default 8,000 tokens, at most
//! 16,000) therefore means at most 24,000 bytes of text and 24,000 of JSON by default, and never
//! more than 48,000 bytes each: under the 50,000 characters and 25,000 tokens that Claude Code
//! takes from one tool result.

/// Estimated tokens of `bytes` bytes of UTF-8.
pub fn tokens(bytes: usize) -> usize {
    bytes.div_ceil(3)
}

/// The most bytes an answer (text or JSON) may have under a budget of `tokens` tokens.
pub fn bytes_for(tokens: usize) -> usize {
    tokens * 3
}

/// Whatever the configuration, no answer's text or JSON goes over this many bytes.
pub const HARD_LIMIT_BYTES: usize = 48_000;

/// The largest `n` in `0..=max` for which `fits(n)` (an answer holding the first `n` items is
/// within the budget), for a `fits` that holds up to some `n` and not beyond. `fits(0)` is not
/// asked: an answer with no item is always given.
pub fn largest_fitting(max: usize, fits: impl Fn(usize) -> bool) -> usize {
    if max == 0 || fits(max) {
        return max;
    }
    // fits(lo) holds (or lo is 0), fits(hi) does not.
    let (mut lo, mut hi) = (0, max);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) { lo = mid } else { hi = mid }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_conservative_and_the_search_finds_the_edge() {
        assert_eq!(tokens(0), 0);
        assert_eq!(tokens(24_000), 8_000);
        assert_eq!(tokens(24_001), 8_001);
        assert!(bytes_for(ingest_config::ANSWER_BUDGET_RANGE.end().to_owned()) <= HARD_LIMIT_BYTES);
        let within = |limit: usize| move |n: usize| 100 + n * 250 <= limit;
        assert_eq!(largest_fitting(500, within(24_000)), 95);
        assert_eq!(largest_fitting(10, within(24_000)), 10);
        assert_eq!(largest_fitting(10, within(50)), 0, "one item too big for the budget");
        assert_eq!(largest_fitting(0, within(10)), 0);
    }
}
