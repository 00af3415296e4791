//! `ALTER MODEL name SET (refresh = 'continuous' | 'manual' | '<interval>', keep_versions = n)`:
//! how the model follows its table ([`crate::models::refresh`]). A refresh other than manual is
//! refused with 0A000 when the model's query cannot be refreshed from new rows. Superusers only.

use crate::access::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::models::registry::Refresh;
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, name: &str, options: &[(String, String)]) -> Result<Output> {
    require_superuser(session, "ALTER MODEL")?;
    let models = &session.engine.models;
    let entry = models.get(name).ok_or_else(|| SquallError::UndefinedObject(format!("model \"{name}\" does not exist")))?;
    let mut refresh = None;
    let mut keep_versions = None;
    for (option, value) in options {
        match option.as_str() {
            "refresh" => refresh = Some(Refresh::parse(value)?),
            "keep_versions" => keep_versions = Some(crate::models::registry::keep_versions(value)?),
            other => return Err(SquallError::InvalidParameter(format!("unknown model setting \"{other}\"; the settings are refresh, keep_versions"))),
        }
    }
    if let (Some(refresh), Some(definition)) = (refresh, &entry.definition) {
        // The current version keeps its training state when its algorithm's state merges.
        let merges = entry.version(entry.current).is_some_and(|v| v.state_url.is_some());
        if refresh == Refresh::Continuous && !merges && !crate::models::refresh::updatable(&definition.algorithm) {
            return Err(crate::models::refresh::not_continuous(&definition.algorithm));
        }
        if refresh != Refresh::Manual {
            let plan = session.planner().sql(&definition.query).await?;
            let samples = definition.options.iter().any(|(option, _)| option == "max_training_rows");
            crate::models::refresh::check_refreshable(&plan, samples)?;
        }
    }
    models.alter_definition(name, |definition| {
        if let Some(refresh) = refresh {
            definition.refresh = refresh;
        }
        if let Some(keep) = keep_versions {
            definition.keep_versions = keep;
        }
        Ok(())
    })?;
    Ok(Output::Done { tag: "ALTER MODEL", rows: None })
}
