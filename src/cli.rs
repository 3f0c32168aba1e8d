//! The command line: `serve`, `check`, `explain`, `token`, `secret`.
