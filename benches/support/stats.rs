//! Percentiles of measured durations, shared by the custom-harness benches.
// Each bench reads the figures it prints.
#![allow(dead_code)]

/// Percentiles (nearest rank), maximum and mean of durations, in ms.
pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Summarises durations given in µs.
pub fn summarise(mut micros: Vec<i64>) -> Summary {
    assert!(!micros.is_empty(), "nothing was measured");
    micros.sort_unstable();
    let rank = |p: f64| {
        let i = ((p / 100.0) * micros.len() as f64).ceil() as usize;
        micros[i.clamp(1, micros.len()) - 1] as f64 / 1000.0
    };
    Summary {
        n: micros.len(),
        p50: rank(50.0),
        p90: rank(90.0),
        p99: rank(99.0),
        max: *micros.last().unwrap() as f64 / 1000.0,
        mean: micros.iter().sum::<i64>() as f64 / micros.len() as f64 / 1000.0,
    }
}
