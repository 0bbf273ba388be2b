//! `lineage ablate evolution`: what each step from GPT-2 to today's models buys, measured.
//! One grid of training runs through `lineage train` at matched parameters and tokens
//! (`variants`, `matching`, `grid`), post-hoc measurements on the trained models, and a
//! report whose every number comes from the runs' files (`results`).

pub mod collect;
pub mod experts;
pub mod extrapolate;
pub mod grid;
pub mod inference;
pub mod matching;
pub mod posthoc;
pub mod quantize;
pub mod results;
pub mod stats;
pub mod study;
pub mod trained;
pub mod variants;

pub use results::StudyResults;
pub use trained::TrainedRun;
