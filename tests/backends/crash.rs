//! Crashes and concurrent applies with a remote backend.
