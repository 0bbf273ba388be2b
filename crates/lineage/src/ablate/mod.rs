//! `lineage ablate evolution`: what each step from GPT-2 to today's models buys, measured.
//! One grid of training runs through `lineage train` at matched parameters and tokens
//! (`variants`, `matching`, `grid`), post-hoc measurements on the trained models, and a
//! report whose every number comes from the runs' files (`results`): statistics
//! (`stats`), verdicts on common claims (`claims`, rules in `verdict`), `report.md` and
//! `report.json` (`report`, numbers written by `fmt`).

pub mod claims;
pub mod collect;
pub mod experts;
pub mod extrapolate;
pub mod fmt;
pub mod grid;
pub mod inference;
pub mod matching;
mod nan_json;
pub mod posthoc;
pub mod quantize;
pub mod report;
pub mod results;
pub mod stats;
pub mod study;
pub mod trained;
pub mod variants;
pub mod verdict;

pub use results::StudyResults;
pub use trained::TrainedRun;
