//! The seed systems' flows end to end through real nginx, one module (and one test) each,
//! named after the system, running the files of `examples/<system>/`.

mod kyma;
