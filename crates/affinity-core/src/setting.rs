//! Checked settings.

/// A setting that cannot work: which one, and why. Returned by every settings struct's
/// `check` before any work starts, and wrapped by each crate's error enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct InvalidSetting {
    /// The setting, as its field or flag is spelled.
    pub name: &'static str,
    /// Why it cannot work, in a phrase that follows the name.
    pub reason: String,
}

impl InvalidSetting {
    /// `name` cannot work because of `reason`.
    pub fn new(name: &'static str, reason: impl Into<String>) -> Self {
        InvalidSetting {
            name,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_setting_and_the_reason() {
        let e = InvalidSetting::new("min_support", format!("{} is above 1", 1.5));
        assert_eq!(e.name, "min_support");
        assert_eq!(e.to_string(), "invalid setting min_support: 1.5 is above 1");
    }
}
