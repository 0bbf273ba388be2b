//! Structured output (`response_format`): the request's JSON schema compiled for this
//! model's vocabulary (`lineage::text::grammar`, llguidance). The token trie is built
//! once per server, on the first structured request (about 0.2 s for a 49k vocabulary);
//! each request then compiles its schema off the async threads, and every choice starts
//! its own parser from the result.

use std::sync::Arc;

use lineage::runtime::constraint::ConstraintFactory;
use lineage::text::grammar::{Grammars, Structure};
use tokio::sync::OnceCell;

use crate::error::ApiError;
use crate::AppState;

/// The compilers of one server, built lazily.
#[derive(Default)]
pub struct Structured {
    grammars: OnceCell<Arc<Grammars>>,
}

impl AppState {
    /// `structure` as a constraint for this model, or a 400 naming `response_format`
    /// with llguidance's message.
    pub async fn constraint(
        &self,
        structure: Structure,
    ) -> Result<Arc<dyn ConstraintFactory>, ApiError> {
        let tok = Arc::clone(&self.tok);
        let grammars = self
            .structured
            .grammars
            .get_or_try_init(|| async move {
                let built = tokio::task::spawn_blocking(move || Grammars::new(tok)).await;
                match built {
                    Ok(Ok(g)) => Ok(Arc::new(g)),
                    Ok(Err(e)) => Err(ApiError::internal(e.to_string())),
                    Err(e) => Err(ApiError::internal(e.to_string())),
                }
            })
            .await?;
        let g = Arc::clone(grammars);
        match tokio::task::spawn_blocking(move || g.compile(&structure)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(ApiError::bad_request(
                format!("response_format: {e}"),
                Some("response_format"),
            )),
            Err(e) => Err(ApiError::internal(e.to_string())),
        }
    }
}
