//! `DISCARD ALL | PLANS | SEQUENCES | TEMP`: the session's part. Connection poolers send it
//! alone before handing a connection to the next client, so the front end carries it out
//! ([`squall_sql::connection_command`]): it closes the portals and drops the prepared statements
//! pgwire keeps, and asks the session to do the rest here.

use squall_sql::Discard;

use crate::error::Result;
use crate::session::Session;

/// `ALL`: every setting back to its start-up value and the kept plans dropped; `PLANS`: the kept
/// plans only; squall has no temporary tables or sequences, so `TEMP` and `SEQUENCES` have nothing
/// to drop.
pub async fn run(session: &Session, what: Discard) -> Result<()> {
    match what {
        Discard::All => {
            // As RESET ALL; the plans kept under the old settings are dropped whatever it did.
            let reset = crate::statements::reset_all(session).await;
            session.settings_changed();
            reset.map(|_| ())
        }
        Discard::Plans => {
            session.discard_plans();
            Ok(())
        }
        Discard::Sequences | Discard::Temp => Ok(()),
    }
}
