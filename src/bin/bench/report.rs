//! What a run prints: a heading naming the scenario and the set-up, then one figure per line.

use std::fmt;

#[derive(Debug, Default)]
pub struct Report {
    pub scenario: String,
    pub lines: Vec<(String, String)>,
}

impl Report {
    pub(super) fn new(scenario: String) -> Self {
        Self {
            scenario,
            lines: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, name: &str, value: impl fmt::Display) {
        self.lines.push((name.to_owned(), value.to_string()));
    }

    /// The replicas' peak RSS: one figure, or one per replica in order.
    pub(super) fn add_peak_rss(&mut self, per_replica: &[Option<f64>]) {
        let figures: Vec<String> = per_replica
            .iter()
            .map(|mib| format!("{:.1}", mib.unwrap_or(f64::NAN)))
            .collect();
        if figures.len() == 1 {
            self.add("bridge peak RSS", format!("{} MiB", figures[0]));
        } else {
            self.add(
                "bridge peak RSS, per replica",
                format!("{} MiB", figures.join(" / ")),
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== {}", self.scenario)?;
        for (name, value) in &self.lines {
            writeln!(f, "  {name:<34} {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_one_figure_per_replica() {
        let mut one = Report::new("x".to_owned());
        one.add_peak_rss(&[Some(70.04)]);
        let mut two = Report::new("x".to_owned());
        two.add_peak_rss(&[Some(70.04), None]);

        assert_eq!(
            one.to_string(),
            "== x\n  bridge peak RSS                    70.0 MiB\n"
        );
        assert_eq!(
            two.lines,
            [(
                "bridge peak RSS, per replica".to_owned(),
                "70.0 / NaN MiB".to_owned()
            )]
        );
    }
}
