//! The one integration-test binary: every module below links once.

mod support;

mod support_tests;
