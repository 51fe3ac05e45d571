//! A model the text frontend may have to do without (Arabic's tashkeel, Hebrew's Nakdimon): told where it is at
//! start, loaded when a voice first needs it, and when it is missing or fails to load, warned about once and
//! then done without. A run that fails on one text is warned about each time.

use ort::environment::Environment;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub struct OptionalModel<T> {
    /// What the model does for the text, for the warnings ("Arabic is phonemized without its short vowels").
    without: &'static str,
    /// The flag that says where it is.
    flag: &'static str,
    location: OnceLock<(Arc<Environment>, PathBuf)>,
    model: OnceLock<Option<T>>,
}

impl<T> OptionalModel<T> {
    pub const fn new(flag: &'static str, without: &'static str) -> Self {
        OptionalModel { without, flag, location: OnceLock::new(), model: OnceLock::new() }
    }

    /// Says where the model is (a file or directory, as `load` takes it). The first call wins.
    pub fn init(&self, env: Arc<Environment>, location: PathBuf) {
        let _ = self.location.set((env, location));
    }

    /// The model, loaded by `load` on first use; `None` (warned about once) when it is not there.
    pub fn get<E: Display>(&self, load: impl FnOnce(&Environment, &Path) -> Result<T, E>) -> Option<&T> {
        self.model
            .get_or_init(|| {
                let Some((env, location)) = self.location.get() else {
                    tracing::warn!("no model ({}): {}", self.flag, self.without);
                    return None;
                };
                load(env, location).map_err(|e| tracing::warn!(error = %e, "{}", self.without)).ok()
            })
            .as_ref()
    }

    /// `text` through `apply`, or as it is when there is no model or it fails (logged).
    pub fn apply<E: Display>(
        &self,
        text: &str,
        load: impl FnOnce(&Environment, &Path) -> Result<T, E>,
        apply: impl FnOnce(&T, &str) -> Result<String, E>,
    ) -> String {
        match self.get(load).map(|model| apply(model, text)) {
            Some(Ok(out)) => out,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the model failed on a text; {}", self.without);
                text.to_string()
            }
            None => text.to_string(),
        }
    }
}
