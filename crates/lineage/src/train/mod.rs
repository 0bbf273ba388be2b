//! Training from scratch on the one model (`crate::model`): data, optimizer, schedule,
//! trainer, checkpoints and export. No second model is written for training; the trainer
//! wraps the canonical weights in autodiff variables and runs the same forward.

pub mod data;
pub mod run_files;

pub use run_files::{open_run, save_model, RunModel};
