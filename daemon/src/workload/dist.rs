//! Sampling token lengths from a configured [`LengthDist`]: constant, uniform, normal and
//! lognormal (parameterised by the mean and stddev of the *result*, DESIGN §6), rounded and
//! clipped to `[min, max]`.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, LogNormal, Normal};

use crate::config::{DistKind, LengthDist};

/// A ready-to-sample length distribution.
#[derive(Debug, Clone)]
pub struct Lengths {
    spec: LengthDist,
    sampler: Sampler,
}

#[derive(Debug, Clone)]
enum Sampler {
    Constant(u32),
    Uniform(u32, u32),
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
    /// stddev 0: the mean, always.
    Fixed(f64),
    Empirical(std::sync::Arc<Vec<u32>>),
}

impl Lengths {
    /// `empirical`: the values of the spec's length file, when it names one (read by the
    /// preparation step; without them an empirical spec draws its `min`).
    pub fn new(spec: &LengthDist, empirical: Option<&std::sync::Arc<Vec<u32>>>) -> Self {
        let spec = spec.clone();
        let sampler = match &spec.dist {
            DistKind::Constant(n) => Sampler::Constant(*n),
            DistKind::Uniform { min, max } => Sampler::Uniform(*min, *max),
            DistKind::Empirical(_) => match empirical {
                Some(v) if !v.is_empty() => Sampler::Empirical(std::sync::Arc::clone(v)),
                _ => Sampler::Constant(spec.min),
            },
            &DistKind::Normal { mean, stddev } => match Normal::new(mean, stddev) {
                Ok(n) if stddev > 0.0 => Sampler::Normal(n),
                _ => Sampler::Fixed(mean),
            },
            &DistKind::Lognormal { mean, stddev } => {
                // mean m and stddev s of X = e^Y, Y ~ N(mu, sigma):
                // sigma^2 = ln(1 + s^2/m^2), mu = ln m - sigma^2/2.
                let sigma2 = (1.0 + (stddev * stddev) / (mean * mean)).ln();
                match LogNormal::new(mean.ln() - sigma2 / 2.0, sigma2.sqrt()) {
                    Ok(l) if stddev > 0.0 => Sampler::LogNormal(l),
                    _ => Sampler::Fixed(mean),
                }
            }
        };
        Lengths { spec, sampler }
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let raw = match &self.sampler {
            Sampler::Constant(n) => return (*n).clamp(self.spec.min, self.spec.max),
            Sampler::Uniform(lo, hi) => {
                return rng
                    .random_range(*lo..=*hi)
                    .clamp(self.spec.min, self.spec.max);
            }
            Sampler::Normal(n) => n.sample(rng),
            Sampler::LogNormal(l) => l.sample(rng),
            Sampler::Fixed(m) => *m,
            Sampler::Empirical(values) => {
                let v = values
                    .get(rng.random_range(0..values.len().max(1)))
                    .copied()
                    .unwrap_or(1);
                return v.clamp(self.spec.min, self.spec.max);
            }
        };
        let rounded = raw.round();
        if rounded.is_nan() || rounded <= f64::from(self.spec.min) {
            self.spec.min
        } else if rounded >= f64::from(self.spec.max) {
            self.spec.max
        } else {
            rounded as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::rng::{Stream, rng_for};

    fn stats(spec: LengthDist) -> (f64, f64, u32, u32) {
        let l = Lengths::new(&spec, None);
        let mut rng = rng_for(1, Stream::Workload, 0);
        let xs: Vec<u32> = (0..20_000).map(|_| l.sample(&mut rng)).collect();
        let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len() as f64;
        let var = xs
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / xs.len() as f64;
        (
            mean,
            var.sqrt(),
            *xs.iter().min().unwrap(),
            *xs.iter().max().unwrap(),
        )
    }

    #[test]
    fn lognormal_matches_mean_and_stddev_of_the_counts() {
        let (mean, sd, _, _) = stats(LengthDist {
            dist: DistKind::Lognormal {
                mean: 500.0,
                stddev: 200.0,
            },
            min: 1,
            max: 100_000,
        });
        assert!((mean - 500.0).abs() < 10.0, "mean {mean}");
        assert!((sd - 200.0).abs() < 12.0, "sd {sd}");
    }

    #[test]
    fn clipping_and_uniform_bounds() {
        let (_, _, lo, hi) = stats(LengthDist {
            dist: DistKind::Normal {
                mean: 100.0,
                stddev: 50.0,
            },
            min: 80,
            max: 120,
        });
        assert_eq!((lo, hi), (80, 120));
        let (mean, _, lo, hi) = stats(LengthDist {
            dist: DistKind::Uniform { min: 10, max: 20 },
            min: 10,
            max: 20,
        });
        assert_eq!((lo, hi), (10, 20));
        assert!((mean - 15.0).abs() < 0.2);
        let (mean, sd, _, _) = stats(LengthDist {
            dist: DistKind::Constant(64),
            min: 64,
            max: 64,
        });
        assert_eq!((mean, sd), (64.0, 0.0));
    }
}

#[cfg(test)]
mod empirical_tests {
    use super::*;
    use crate::config::{Empirical, FileRef, Origin};
    use crate::workload::rng::{Stream, rng_for};

    #[test]
    fn empirical_draws_only_listed_values_clipped() {
        let spec = LengthDist {
            dist: DistKind::Empirical(Empirical {
                file: FileRef {
                    file: "x".into(),
                    at: Origin::default(),
                },
            }),
            min: 5,
            max: 1000,
        };
        let l = Lengths::new(&spec, Some(&std::sync::Arc::new(vec![10, 20, 3000])));
        let mut rng = rng_for(1, Stream::Workload, 0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..300 {
            seen.insert(l.sample(&mut rng));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![10, 20, 1000]);
    }
}
