//! A fixed-size log-linear histogram of durations (nanoseconds) for the pool's run and wait
//! time summaries: exact count, sum, min and max; percentiles within ~3 % (32 sub-buckets per
//! power of two), in constant memory however many tasks run.

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values below this are their own bucket.
const LINEAR: u64 = 2 * SUB as u64;
const BUCKETS: usize = LINEAR as usize + (64 - SUB_BITS as usize - 1) * SUB;

pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub min: u64,
    pub max: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let sub = ((v >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    LINEAR as usize + (exp - SUB_BITS - 1) as usize * SUB + sub
}

/// The smallest value that falls in `bucket`.
fn lowest_of(bucket: usize) -> u64 {
    if bucket < LINEAR as usize {
        return bucket as u64;
    }
    let rest = bucket - LINEAR as usize;
    let exp = (rest / SUB) as u32 + SUB_BITS + 1;
    let sub = (rest % SUB) as u64;
    (1u64 << exp) | (sub << (exp - SUB_BITS))
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: Box::new([0; BUCKETS]), count: 0, sum: 0, min: u64::MAX, max: 0 }
    }
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.counts[bucket_of(v)] += 1;
        self.count += 1;
        self.sum += v as u128;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// The value at quantile `q` (0..=1): the bucket's lowest value, clamped to [min, max].
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return lowest_of(bucket).clamp(self.min, self.max);
            }
        }
        self.max
    }

    pub fn summary(&self) -> Summary {
        if self.count == 0 {
            return Summary { count: 0, mean: 0.0, min: 0, max: 0, p50: 0, p90: 0, p99: 0 };
        }
        Summary {
            count: self.count,
            mean: self.sum as f64 / self.count as f64,
            min: self.min,
            max: self.max,
            p50: self.quantile(0.5),
            p90: self.quantile(0.9),
            p99: self.quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut last = 0;
        for v in (0..1_000_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= last && b < BUCKETS, "value {v} bucket {b}");
            assert!(lowest_of(b) <= v);
            last = b;
        }
        for b in 0..BUCKETS - 1 {
            assert_eq!(bucket_of(lowest_of(b)), b);
            assert!(lowest_of(b) < lowest_of(b + 1));
        }
    }

    #[test]
    fn percentiles_are_within_a_few_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 100_000);
        assert_eq!(s.min, 1000);
        assert_eq!(s.max, 100_000_000);
        assert!((s.mean - 50_000_500.0).abs() < 1.0);
        for (got, want) in [(s.p50, 50_000_000.0), (s.p90, 90_000_000.0), (s.p99, 99_000_000.0)] {
            assert!((got as f64 - want).abs() / want < 0.04, "{got} vs {want}");
        }
    }

    #[test]
    fn empty_and_single_values() {
        assert_eq!(Histogram::default().summary().count, 0);
        let mut h = Histogram::default();
        h.record(12_345);
        let s = h.summary();
        assert_eq!((s.min, s.max, s.p50, s.p99), (12_345, 12_345, 12_345, 12_345));
    }
}
