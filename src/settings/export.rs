//! Export-task settings (chunk concurrency, polling, locale), validated into an [`ExportJob`].

use serde::Deserialize;

use super::duration;
use crate::error::{Error, Result};
use crate::export::ExportJob;

/// The most chunks downloaded at once.
pub(crate) const MAX_CONCURRENCY: usize = 64;

/// How to run one export task and download its file, as given; `None` takes the default.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ExportSettings {
    /// `concurrency`: chunks downloaded at once, 1 to [`MAX_CONCURRENCY`].
    pub concurrency: Option<usize>,
    /// `poll_interval`: a duration, more than 0.
    pub poll_interval: Option<String>,
    /// `task_timeout`: a duration; 0 for no limit.
    pub task_timeout: Option<String>,
    /// `locale`: sent when starting the task.
    pub locale: Option<String>,
}

impl ExportSettings {
    /// Validates the settings into the job of exporting `export` of `model` in `workspace`
    /// (each a name or an id).
    pub(crate) fn job(
        &self,
        workspace: String,
        model: String,
        export: String,
    ) -> Result<ExportJob> {
        let mut job = ExportJob::new(workspace, model, export);
        if let Some(n) = self.concurrency {
            if !(1..=MAX_CONCURRENCY).contains(&n) {
                return Err(Error::invalid_setting(
                    "concurrency",
                    format!("must be between 1 and {MAX_CONCURRENCY}, not {n}"),
                ));
            }
            job.concurrency = n;
        }
        if let Some(text) = &self.poll_interval {
            job.poll.interval = duration("poll_interval", text)?;
            if job.poll.interval.is_zero() {
                return Err(Error::invalid_setting(
                    "poll_interval",
                    format!("must be more than 0, not {text:?}"),
                ));
            }
        }
        if let Some(text) = &self.task_timeout {
            let d = duration("task_timeout", text)?;
            job.poll.timeout = (!d.is_zero()).then_some(d);
        }
        if let Some(locale) = &self.locale {
            job.locale.clone_from(locale);
        }
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn job(s: &ExportSettings) -> Result<ExportJob> {
        s.job("W".into(), "M".into(), "E".into())
    }

    #[test]
    fn settings_reach_the_job() {
        let j = job(&ExportSettings {
            concurrency: Some(16),
            poll_interval: Some("200ms".into()),
            task_timeout: Some("0s".into()),
            locale: Some("fr_FR".into()),
        })
        .unwrap();
        assert_eq!(j.concurrency, 16);
        assert_eq!(j.poll.interval, Duration::from_millis(200));
        assert_eq!(j.poll.timeout, None);
        assert_eq!(j.locale, "fr_FR");
        let d = job(&ExportSettings::default()).unwrap();
        let library = ExportJob::new("W", "M", "E");
        assert_eq!(format!("{d:?}"), format!("{library:?}"));
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        for (s, name) in [
            (
                ExportSettings {
                    concurrency: Some(0),
                    ..ExportSettings::default()
                },
                "concurrency",
            ),
            (
                ExportSettings {
                    concurrency: Some(65),
                    ..ExportSettings::default()
                },
                "concurrency",
            ),
            (
                ExportSettings {
                    poll_interval: Some("0s".into()),
                    ..ExportSettings::default()
                },
                "poll_interval",
            ),
            (
                ExportSettings {
                    task_timeout: Some("whenever".into()),
                    ..ExportSettings::default()
                },
                "task_timeout",
            ),
        ] {
            match job(&s) {
                Err(Error::InvalidSetting { setting, .. }) => assert_eq!(setting, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
