//! A [`crate::decision::Decision`] turned into the HTTP answer each calling proxy expects.
