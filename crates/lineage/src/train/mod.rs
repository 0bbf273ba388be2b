//! Training from scratch on the one model (`crate::model`): data, optimizer, schedule,
//! trainer, checkpoints and export. No second model is written for training; the trainer
//! wraps the canonical weights in autodiff variables and runs the same forward.

mod adamw_kernel;
mod ce_kernel;
pub mod checkpoint;
pub mod data;
pub mod data_source;
pub mod export;
pub mod head_ce_kernel;
pub mod init;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod recipes;
pub mod run;
pub mod run_files;
pub mod schedule;
pub mod settings;
pub mod source;
pub mod trainer;

pub use run_files::{open_run, save_model, RunModel};
pub use settings::TrainSettings;
pub use source::TokenSource;
pub use trainer::Trainer;
