//! Which worker gets the next connection: the fewest pending (unacknowledged) hand-offs, ties
//! broken round-robin from `start`.

/// `pending[i]` is None for a worker that cannot take connections. Returns the chosen index.
pub fn pick(pending: &[Option<u32>], start: usize) -> Option<usize> {
    let n = pending.len();
    let mut best: Option<(usize, u32)> = None;
    for k in 0..n {
        let i = (start + k) % n;
        if let Some(p) = pending[i] {
            if best.is_none_or(|(_, b)| p < b) {
                best = Some((i, p));
            }
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn rotates_between_equals() {
        let p = [Some(0), Some(0), Some(0)];
        assert_eq!(pick(&p, 0), Some(0));
        assert_eq!(pick(&p, 1), Some(1));
        assert_eq!(pick(&p, 5), Some(2));
    }

    #[test]
    fn prefers_fewest_pending_and_skips_dead() {
        assert_eq!(pick(&[Some(3), Some(1), Some(2)], 0), Some(1));
        assert_eq!(pick(&[Some(1), None, Some(1)], 1), Some(2));
        assert_eq!(pick(&[None, None], 0), None);
        assert_eq!(pick(&[], 0), None);
    }
}
