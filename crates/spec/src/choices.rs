//! The settings of `job_configs.toml` that take one of a fixed set of names (`report_format`,
//! `action`, `catch_up`). Each enum keeps its TOML names beside `from_name` and `name`, so the
//! config compiler (which reads and checks them) and the bot (which acts on them) agree.
//!
//! `NAMES` lists the names in the order the variants are declared, and `ALL` the variants in
//! the same order, so `name` is an index into `NAMES` and `from_name` a search of it. The code
//! generator names a variant by its derived `Debug` form (`ScheduleJob`), so no enum here
//! implements `Debug` by hand.

/// How a job's stdout is posted to Slack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    /// Posted as is (uploaded as a file when very long).
    Text,
    /// A JSON array of Block Kit blocks.
    Blocks,
    /// Wrapped in triple backticks (uploaded as a file when long).
    Code,
    /// Uploaded as a file.
    File,
}

impl ReportFormat {
    /// Every format, in declaration order.
    pub const ALL: [ReportFormat; 4] = [
        ReportFormat::Text,
        ReportFormat::Blocks,
        ReportFormat::Code,
        ReportFormat::File,
    ];

    /// The names used in `job_configs.toml`, in declaration order.
    pub const NAMES: [&'static str; 4] = ["text", "blocks", "code", "file"];

    /// The format called `name` in `job_configs.toml`.
    pub fn from_name(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Self::ALL[i])
    }

    /// The name used in `job_configs.toml`.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What a Slack command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Queue the job.
    ScheduleJob,
    /// Remove pending jobs of the type.
    CancelJob,
    /// Stop the type from running between two times today.
    ScheduleSuppression,
    /// Remove the type's suppressions.
    CancelSuppression,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 4] = [
        Action::ScheduleJob,
        Action::CancelJob,
        Action::ScheduleSuppression,
        Action::CancelSuppression,
    ];

    /// The names used in `job_configs.toml`, in declaration order.
    pub const NAMES: [&'static str; 4] = [
        "schedule_job",
        "cancel_job",
        "schedule_suppression",
        "cancel_suppression",
    ];

    /// The action called `name` in `job_configs.toml`.
    pub fn from_name(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Self::ALL[i])
    }

    /// The name used in `job_configs.toml`.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What a schedule does about due times missed while no dispatcher ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatchUp {
    /// Missed due times are not queued.
    Skip,
    /// The latest missed due time is queued, once.
    Latest,
}

impl CatchUp {
    /// Every policy, in declaration order.
    pub const ALL: [CatchUp; 2] = [CatchUp::Skip, CatchUp::Latest];

    /// The names used in `job_configs.toml`, in declaration order.
    pub const NAMES: [&'static str; 2] = ["skip", "latest"];

    /// The policy called `name` in `job_configs.toml`.
    pub fn from_name(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Self::ALL[i])
    }

    /// The name used in `job_configs.toml`.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `ALL` is in declaration order (so `name` indexes `NAMES` right), that
    /// every variant's name reads back as that variant, and that names outside `NAMES` do not.
    macro_rules! assert_names_round_trip {
        ($enum:ty) => {
            for (i, v) in <$enum>::ALL.into_iter().enumerate() {
                assert_eq!(v as usize, i, "{v:?} is out of declaration order in ALL");
                assert_eq!(<$enum>::from_name(v.name()), Some(v));
            }
            assert_eq!(<$enum>::from_name(""), None);
            assert_eq!(<$enum>::from_name("Unknown"), None);
        };
    }

    #[test]
    fn every_report_format_reads_back_from_its_name() {
        assert_names_round_trip!(ReportFormat);
        assert_eq!(ReportFormat::Blocks.name(), "blocks");
    }

    #[test]
    fn every_action_reads_back_from_its_name() {
        assert_names_round_trip!(Action);
        assert_eq!(Action::ScheduleSuppression.name(), "schedule_suppression");
    }

    #[test]
    fn every_catch_up_reads_back_from_its_name() {
        assert_names_round_trip!(CatchUp);
        assert_eq!(CatchUp::Latest.name(), "latest");
    }
}
