//! The S3 backend through the binary, against moto.
