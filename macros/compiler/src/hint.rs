//! Help lines that several checks share: a list of names (or "none"), and what to suggest for
//! a `job_type` that names no job of its namespace. It sits below [`crate::validate`] and
//! [`crate::schedule`], which both use it.

use crate::model::Namespace;
use crate::source::closest;

/// "did you mean" (when a job's name is close) and the namespace's jobs.
pub fn unknown_job_help(ns: &Namespace, job_type: &str) -> String {
    let help = format!("jobs in `{}`: {}", ns.name.value, job_list(ns));
    match closest(job_type, ns.jobs.iter().map(|j| j.name.value.as_str())) {
        Some(near) => format!("did you mean `{near}`? {help}"),
        None => help,
    }
}

/// The namespace's job names, quoted as code.
fn job_list(ns: &Namespace) -> String {
    list_or_none(ns.jobs.iter().map(|j| format!("`{}`", j.name.value)))
}

/// The items joined with `, `, or `none` when there are none.
pub fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}
