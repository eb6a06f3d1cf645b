//! The one integration-test binary: every module below links once.
mod fuzz_corpus;
