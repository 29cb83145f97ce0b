//! A stand-in for the HTTP clients, for runs (and sweeps) in paused time.

use std::sync::Arc;

use super::Clients;
use crate::client::ClientError;
use crate::prepare::Prepared;
use crate::schedule::tests::Fake;

/// The stand-in executor for the scenarios and the canary alike; prompts drawn inline (paused
/// time cannot see the worker thread).
#[derive(Debug, Clone)]
pub(crate) struct FakeClients(pub Arc<Fake>);

impl Clients for FakeClients {
    type Exec = Fake;

    fn soak(&self, _: &Prepared) -> Result<Arc<Fake>, ClientError> {
        Ok(Arc::clone(&self.0))
    }

    fn canary(&self, p: &Prepared) -> Result<Option<Arc<Fake>>, ClientError> {
        Ok(p.config.canary.as_ref().map(|_| Arc::clone(&self.0)))
    }

    fn prompts_inline(&self) -> bool {
        true
    }
}
