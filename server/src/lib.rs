//! Yui hub.
