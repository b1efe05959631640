//! Scheduled jobs (`[[ns.schedule]]`): when each is due ([`Timetable`], croner in the
//! schedule's time zone), a [`Clock`] tests can drive, and the [`Scheduler`] that the
//! dispatcher's process runs to queue due jobs, once per due time across every process on the
//! database (the due time is claimed in the transaction that queues the job).
//!
//! "On time" and "missed": a due time seen within [`LATE_AFTER`] of it is on time and queued.
//! One older than that, found when the scheduler starts or after it stalled for longer than
//! [`LATE_AFTER`], was missed: `catch_up = "skip"` leaves it, `"latest"` queues the latest
//! missed due time once, if the schedule ran before (a new schedule has missed nothing).

mod clock;
pub mod listing;
mod ticker;
mod timetable;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ticker::{Scheduler, Tick, LATE_AFTER, TICK};
pub use timetable::{Timetable, TimetableError};

#[cfg(test)]
mod tests;
