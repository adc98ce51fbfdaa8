//! Tests of the runtime, one per failure mode, by subject. The loader and sink here are
//! in-memory stand-ins for the service's store: this crate has no store of its own.

mod calls;
mod supervisor;
mod writer;
