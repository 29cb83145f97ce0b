//! The arrival process: absolute instants, rates, shapes and shards (pure, no runtime).

use super::*;

#[test]
fn constant_arrivals_are_evenly_spaced_from_absolute_time() {
    let ticks: Vec<Tick> = Arrivals::new(steady(10.0, 10), Arrival::Constant, 1).collect();
    assert_eq!(ticks.len(), 100);
    for (i, t) in ticks.iter().enumerate() {
        assert_eq!(t.seq, i as u64);
        assert!((t.at.as_secs_f64() - i as f64 * 0.1).abs() < 1e-9, "{t:?}");
    }
}

#[test]
fn poisson_and_gamma_rates_are_exact_on_average_and_reproducible() {
    for process in [
        Arrival::Poisson,
        Arrival::Gamma { burstiness: 0.5 },
        Arrival::Gamma { burstiness: 4.0 },
    ] {
        let n = Arrivals::new(steady(100.0, 200), process, 9).count() as f64;
        assert!((n - 20_000.0).abs() < 20_000.0 * 0.03, "{process:?}: {n}");
        let a: Vec<Tick> = Arrivals::new(steady(100.0, 1), process, 9).collect();
        let b: Vec<Tick> = Arrivals::new(steady(100.0, 1), process, 9).collect();
        assert_eq!(a, b);
    }
    // Burstier gaps have a larger coefficient of variation.
    let cv = |process| {
        let at: Vec<f64> = Arrivals::new(steady(100.0, 100), process, 3)
            .map(|t| t.at.as_secs_f64())
            .collect();
        let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        var.sqrt() / mean
    };
    assert!(cv(Arrival::Gamma { burstiness: 0.25 }) > 1.5);
    assert!((cv(Arrival::Poisson) - 1.0).abs() < 0.1);
    assert!(cv(Arrival::Gamma { burstiness: 16.0 }) < 0.4);
}

fn window_counts(shape: Shape, process: Arrival, edges: &[u64]) -> Vec<usize> {
    let ticks: Vec<f64> = Arrivals::new(shape, process, 4)
        .map(|t| t.at.as_secs_f64())
        .collect();
    edges
        .windows(2)
        .map(|w| {
            ticks
                .iter()
                .filter(|&&t| t >= w[0] as f64 && t < w[1] as f64)
                .count()
        })
        .collect()
}

#[test]
fn each_shape_offers_its_integral_in_every_window() {
    let one = |kind, secs| {
        Shape::new(
            &[Phase {
                kind,
                duration: Some(Duration::from_secs(secs)),
            }],
            Repeat::Times(1),
        )
    };
    // Ramp 0 -> 10 rps over 60 s: 300 arrivals, 75 in the first half.
    let ramp = one(
        PhaseKind::Ramp {
            from: 0.0,
            to: 10.0,
        },
        60,
    );
    assert_eq!(
        window_counts(ramp.clone(), Arrival::Constant, &[0, 30, 60, 1000]),
        vec![75, 225, 0]
    );
    let poisson: usize = window_counts(ramp, Arrival::Poisson, &[0, 60]).iter().sum();
    assert!(
        (poisson as f64 - 300.0).abs() < 3.0 * 300f64.sqrt(),
        "{poisson}"
    );
    // Spike 10 -> 100 rps for 2 min at 1 min, in a 5 min phase.
    let spike = one(
        PhaseKind::Spike {
            base: 10.0,
            peak: 100.0,
            at: Duration::from_secs(60),
            hold: Duration::from_secs(120),
        },
        300,
    );
    assert_eq!(
        window_counts(spike, Arrival::Constant, &[0, 60, 180, 300]),
        vec![600, 12_000, 1_200]
    );
    // Four steps 1, 2, 3, 4 rps of 10 s each.
    let step = one(
        PhaseKind::Step {
            from: 1.0,
            to: 4.0,
            steps: 4,
        },
        40,
    );
    assert_eq!(
        window_counts(step, Arrival::Constant, &[0, 10, 20, 30, 40]),
        vec![10, 20, 30, 40]
    );
    // Diurnal: the high half of the period offers more than the low half, the total is mean x time.
    let day = one(
        PhaseKind::Diurnal {
            mean: 10.0,
            amplitude: 5.0,
            period: Duration::from_secs(100),
        },
        100,
    );
    let halves = window_counts(day, Arrival::Constant, &[0, 50, 100]);
    assert_eq!(halves.iter().sum::<usize>(), 1000);
    assert!(halves[0] > 600 && halves[1] < 400, "{halves:?}");
    // Zigzag 0 -> 20 -> 0 every 20 s: each rising half offers 100, each falling half 100, and
    // the rate is the triangle's.
    let zig = one(
        PhaseKind::Zigzag {
            from: 0.0,
            to: 20.0,
            period: Duration::from_secs(20),
        },
        40,
    );
    assert_eq!(zig.rate_at(Duration::from_secs(5)), 10.0);
    assert_eq!(zig.rate_at(Duration::from_secs(15)), 10.0);
    assert_eq!(zig.rate_at(Duration::from_secs(25)), 10.0);
    assert!(zig.rate_at(Duration::from_millis(9_999)) > 19.9);
    assert_eq!(
        window_counts(zig, Arrival::Constant, &[0, 10, 20, 30, 40]),
        vec![100, 100, 100, 100]
    );
    // Microburst: 100 rps for 1 s at the start of every 10 s, 2 rps between.
    let burst = one(
        PhaseKind::Microburst {
            base: 2.0,
            peak: 100.0,
            hold: Duration::from_secs(1),
            period: Duration::from_secs(10),
        },
        30,
    );
    assert_eq!(
        window_counts(burst, Arrival::Constant, &[0, 1, 10, 11, 20, 21, 30]),
        vec![100, 18, 100, 18, 100, 18]
    );
}

#[test]
fn three_shards_together_are_exactly_the_unsharded_schedule() {
    let shape = steady(50.0, 60);
    let all: Vec<Tick> = Arrivals::new(shape.clone(), Arrival::Poisson, 8).collect();
    let mut union: Vec<Tick> = (0..3)
        .flat_map(|i| {
            let shard = Shard { index: i, count: 3 };
            let ticks: Vec<Tick> = Arrivals::new(shape.clone(), Arrival::Poisson, 8)
                .sharded(shard)
                .collect();
            assert!(
                ticks.iter().all(|t| t.seq % 3 == i),
                "shard {i} took another's arrival"
            );
            ticks
        })
        .collect();
    union.sort_by_key(|t| t.seq);
    assert_eq!(union, all, "disjoint, and together the whole schedule");
    assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
    assert!(
        Shard::parse("3/3").is_err() && Shard::parse("1").is_err() && Shard::parse("0/0").is_err()
    );
    assert_eq!(
        Shard { index: 1, count: 4 }
            .seqs()
            .take(3)
            .collect::<Vec<_>>(),
        vec![1, 5, 9]
    );
}

#[test]
fn a_late_replica_skips_the_arrivals_it_missed() {
    let mut a =
        Arrivals::new(steady(10.0, 10), Arrival::Constant, 0).sharded(Shard { index: 1, count: 2 });
    assert_eq!(
        a.skip_before(Duration::from_secs(2)),
        10,
        "seqs 1, 3, … 19 were due before 2 s"
    );
    assert_eq!(a.next().map(|t| t.seq), Some(21));
}
