//! The names Celery defines: every setting of `celery/app/defaults.py` and the task attributes
//! an annotation may set, as Celery 5.7.0 lists them (`celery-names.txt`, written by
//! `tools/celery-names.py`; every 5.5 and 5.6 name is among them). They tell a name Celery
//! defines but the model leaves alone apart from one Celery does not define, and suggest the
//! name a misspelt one was meant to be.

const NAMES: &str = include_str!("celery-names.txt");

fn listed(kind: &'static str) -> impl Iterator<Item = &'static str> {
    NAMES.lines().filter_map(move |l| l.strip_prefix(kind)?.strip_prefix(' '))
}

/// Whether Celery defines a setting of this name.
pub fn is_setting(name: &str) -> bool {
    listed("setting").any(|n| n == name)
}

/// The setting a name not defined by Celery was probably meant to be.
pub fn suggest_setting(name: &str) -> Option<&'static str> {
    closest(name, listed("setting"))
}

/// Whether a task attribute of this name exists (annotations may set any attribute, but only
/// these mean something to Celery).
pub fn is_attribute(name: &str) -> bool {
    listed("attribute").any(|n| n == name)
}

/// The task attribute a name was probably meant to be.
pub fn suggest_attribute(name: &str) -> Option<&'static str> {
    closest(name, listed("attribute"))
}

/// The nearest name within a typo's reach (one edit for short names, two for longer ones).
fn closest(name: &str, names: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let reach = if name.chars().count() <= 6 { 1 } else { 2 };
    names
        .map(|n| (strsim::damerau_levenshtein(name, n), n))
        .filter(|(d, _)| (1..=reach).contains(d))
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_names_get_the_name_they_meant() {
        assert!(is_setting("task_acks_late") && is_setting("worker_soft_shutdown_timeout"));
        assert!(!is_setting("chord_unlock_max_retries"));
        assert_eq!(suggest_setting("task_acks_lte"), Some("task_acks_late"));
        assert_eq!(suggest_setting("result_expire"), Some("result_expires"));
        assert_eq!(suggest_setting("chord_unlock_max_retries"), None, "not a typo of anything");
        assert_eq!(suggest_attribute("max_retires"), Some("max_retries"));
        assert!(is_attribute("rate_limit") && !is_attribute("rate.limit"));
    }
}
