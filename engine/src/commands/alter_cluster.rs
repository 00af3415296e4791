//! `ALTER CLUSTER SET (option = value, ...)`: the autoscale settings, checked and saved under the
//! data directory (see [`crate::cluster::settings`]). Superusers only.

use crate::access::checks::require_superuser;
use crate::error::Result;
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, options: &[(String, String)]) -> Result<Output> {
    require_superuser(session, "ALTER CLUSTER")?;
    session.engine.alter_cluster(options)?;
    Ok(Output::Done { tag: "ALTER CLUSTER", rows: None })
}
