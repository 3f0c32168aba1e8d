//! The pure core: from the matched rule and the identity (if any) to a [`Decision`]. No HTTP,
//! no I/O, so it is unit-tested and benchmarked on its own.
