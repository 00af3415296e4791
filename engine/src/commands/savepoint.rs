//! `SAVEPOINT`, `RELEASE SAVEPOINT`, `ROLLBACK TO SAVEPOINT`: accepted as the transaction
//! statements are, since every squall statement is atomic on its own (README: transactions).

use squall_sql::Savepoint;

use crate::error::Result;
use crate::session::Output;

pub(super) async fn run(action: Savepoint) -> Result<Output> {
    Ok(Output::Done { tag: action.tag(), rows: None })
}
